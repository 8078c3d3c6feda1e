// Split colours and the training phases shaded on the accuracy plot, from the Rust detector
// (`probes::phases`, exposed to wasm as `phases`): memorization from the step train accuracy reaches the
// threshold until the (ID) test split does; ID generalization from then (until OOD does, if there is an OOD
// split); OOD generalization from the step test_ood does.
import { phases } from './pkg/looplab.js';
import { PALETTE } from './plot.js';

// The threshold `looplab probe` uses by default.
export const PHASE_THRESHOLD = 0.9;

const SPLIT_COLORS = { train: PALETTE.orange, test: PALETTE.green, test_id: PALETTE.green, test_ood: PALETTE.purple };
const FALLBACK = [PALETTE.orange, PALETTE.green, PALETTE.purple, PALETTE.vermillion, PALETTE.blue];

export function splitColor(split, index) {
  return SPLIT_COLORS[split] || FALLBACK[index % FALLBACK.length];
}

// Translucent Okabe-Ito: orange, green, purple.
const BAND = { memorization: 'rgba(230,159,0,0.13)', id: 'rgba(0,158,115,0.12)', ood: 'rgba(204,121,167,0.15)' };

// Bands [{from, to, label, color}] for `history` (records), ending at its last step.
export function phaseBands(history) {
  if (!history.length) return [];
  const p = phases(history, PHASE_THRESHOLD);
  const at = (name) => p.splits.find((s) => s.split === name)?.accuracy_step ?? null;
  const train = at('train');
  const id = at('test_id') ?? at('test');
  const ood = at('test_ood');
  const end = p.last_step;
  const bands = [];
  if (train != null && (id == null || id > train)) bands.push({ from: train, to: id ?? end, label: 'memorization', color: BAND.memorization });
  if (id != null) bands.push({ from: id, to: ood != null && ood > id ? ood : end, label: p.splits.some((s) => s.split === 'test_ood') ? 'ID generalization' : 'generalization', color: BAND.id });
  if (ood != null) bands.push({ from: Math.max(ood, id ?? ood), to: end, label: 'OOD generalization', color: BAND.ood });
  return bands;
}
