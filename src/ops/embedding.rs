//! Token + position embeddings, forward and backward; the backward gathers per table row instead of
//! scattering with float atomics, so it is deterministic. Shader: shaders/embedding.wgsl.

use super::u;
use crate::program::{for_each_rows, grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

/// `out[i,:] = table[tokens[i],:] + positions[i % seq,:]` for `rows` tokens (no position term without
/// `positions`: models that run on any input size); `tokens` holds u32 bits.
#[derive(Clone, Debug)]
pub struct EmbeddingForward {
    pub tokens: Tensor,            // [rows] u32
    pub table: Tensor,             // [vocab, d]
    pub positions: Option<Tensor>, // [seq, d]
    pub out: Tensor,               // [rows, d]
    pub rows: usize,
    pub vocab: usize,
    pub seq: usize,
    pub d: usize,
}

/// `d_table[v,:] += sum of d_out[i,:] over i with tokens[i] == v` and
/// `d_positions[p,:] += sum of d_out[i,:] over i with i % seq == p` (two launches: the two outputs are
/// views of the same gradient buffer, which one dispatch may not bind twice for writing).
#[derive(Clone, Debug)]
pub struct EmbeddingBackward {
    pub tokens: Tensor,
    pub d_out: Tensor,               // [rows, d]
    pub d_table: Tensor,             // [vocab, d]
    pub d_positions: Option<Tensor>, // [seq, d]
    pub rows: usize,
    pub vocab: usize,
    pub seq: usize,
    pub d: usize,
}

/// Asserts the shapes shared by both directions: `rows_t` is `[rows, d]`, `table_t` `[vocab, d]`,
/// `positions_t` `[seq, d]`.
fn check_shapes(
    op: &str,
    [rows, vocab, seq, d]: [usize; 4],
    tokens: Tensor,
    rows_t: Tensor,
    table_t: Tensor,
    positions_t: Option<Tensor>,
) {
    assert!(seq > 0, "{op}: seq must be positive");
    assert_eq!(tokens.len, rows, "{op}: tokens has {} elements, expected rows = {rows}", tokens.len);
    assert_eq!(rows_t.len, rows * d, "{op}: [rows, d] tensor has {} elements, expected {rows}*{d}", rows_t.len);
    assert_eq!(table_t.len, vocab * d, "{op}: table has {} elements, expected vocab*d = {vocab}*{d}", table_t.len);
    if let Some(t) = positions_t {
        assert_eq!(t.len, seq * d, "{op}: positions has {} elements, expected seq*d = {seq}*{d}", t.len);
    }
}

impl EmbeddingForward {
    fn check(&self) {
        let dims = [self.rows, self.vocab, self.seq, self.d];
        check_shapes("embedding forward", dims, self.tokens, self.out, self.table, self.positions);
    }
}

impl Kernel for EmbeddingForward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let d = self.d;
        mem.out(self.out, |mem, out| {
            let (tokens, table) = (mem.get_u32(self.tokens), mem.get(self.table));
            let positions = self.positions.map(|t| mem.get(t));
            for (i, row) in out.chunks_exact_mut(d.max(1)).enumerate().take(self.rows) {
                let t = tokens[i] as usize;
                assert!(t < self.vocab, "embedding: token {t} at row {i} is outside the vocabulary of {}", self.vocab);
                let p = i % self.seq;
                for (c, o) in row.iter_mut().enumerate() {
                    *o = table[t * d + c] + positions.map_or(0.0, |pos| pos[p * d + c]);
                }
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        vec![Launch {
            shader: Shader::Embedding,
            entry: "embedding_forward",
            // Without positions the table is bound in their place (never read) and the flag in `vocab`'s word is 0.
            params: vec![u(self.rows), u(self.seq), u(self.d), self.positions.is_some() as u32],
            bindings: vec![
                write(self.out),
                read(self.table),
                read(self.tokens),
                read(self.positions.unwrap_or(self.table)),
            ],
            workgroups: grid(self.rows * self.d),
        }]
    }
}

impl EmbeddingBackward {
    fn check(&self) {
        let dims = [self.rows, self.vocab, self.seq, self.d];
        check_shapes("embedding backward", dims, self.tokens, self.d_out, self.d_table, self.d_positions);
    }
}

/// `out[v, :] += the sum of rows `sources(v)` of `d_out` (`[_, d]`), in the order given; one task per few
/// table rows.
fn add_row_sums<I: Iterator<Item = usize>>(
    out: &mut [f32],
    d: usize,
    d_out: &[f32],
    sources: impl Fn(usize) -> I + Sync + Send,
) {
    let rows_per_table_row = (d_out.len() / d.max(1)).div_ceil(out.len().div_ceil(d.max(1)).max(1));
    for_each_rows(out, d, rows_per_table_row.max(1), |first, chunk| {
        let mut sum = vec![0f32; d];
        for (v, row) in chunk.chunks_exact_mut(d.max(1)).enumerate() {
            sum.fill(0.0);
            for i in sources(first + v) {
                sum.iter_mut().zip(&d_out[i * d..(i + 1) * d]).for_each(|(s, g)| *s += g);
            }
            row.iter_mut().zip(&sum).for_each(|(g, s)| *g += s);
        }
    });
}

impl Kernel for EmbeddingBackward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let (rows, d) = (self.rows, self.d);
        let tokens = mem.get_u32(self.tokens);
        // The rows of each token, ascending: sums in the GPU's order before adding to the gradient, so both
        // backends round alike.
        let mut by_token = vec![Vec::new(); self.vocab];
        for (i, &t) in tokens.iter().enumerate().take(rows) {
            if let Some(list) = by_token.get_mut(t as usize) {
                list.push(i);
            }
        }
        mem.out(self.d_table, |mem, d_table| {
            add_row_sums(d_table, d, mem.get(self.d_out), |v| by_token[v].iter().copied())
        });
        let Some(d_pos) = self.d_positions else { return };
        let seq = self.seq;
        mem.out(d_pos, |mem, d_pos| add_row_sums(d_pos, d, mem.get(self.d_out), |p| (p..rows).step_by(seq)));
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let params = vec![u(self.rows), u(self.seq), u(self.d), u(self.vocab)];
        let table = Launch {
            shader: Shader::Embedding,
            entry: "embedding_backward_table",
            params: params.clone(),
            bindings: vec![write(self.d_table), read(self.d_out), read(self.tokens)],
            workgroups: [u(self.d), u(self.vocab.min(65535)), 1],
        };
        let positions = self.d_positions.map(|d_pos| Launch {
            shader: Shader::Embedding,
            entry: "embedding_backward_positions",
            params,
            bindings: vec![write(d_pos), read(self.d_out)],
            workgroups: [u(self.d), u(self.seq), 1],
        });
        std::iter::once(table).chain(positions).collect()
    }
}
