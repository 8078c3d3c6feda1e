// @ts-check
// Split colours and the training phases shaded on the accuracy plot, from what the Rust detector found
// (`probes::phases`, exposed to wasm as `phases(history, PHASE_THRESHOLD)`): memorization from the step train
// accuracy reaches the threshold until the (ID) test split does; ID generalization from then (until OOD does,
// if there is an OOD split); OOD generalization from the step test_ood does. Pure: unit-tested in tests/js.
import { PALETTE, translucent } from './plot.js';

// The threshold `looplab probe` uses by default.
export const PHASE_THRESHOLD = 0.9;

const SPLIT_COLORS = { train: PALETTE.orange, test: PALETTE.green, test_id: PALETTE.green, test_ood: PALETTE.purple };
const FALLBACK = [PALETTE.orange, PALETTE.green, PALETTE.purple, PALETTE.vermillion, PALETTE.blue];

/** @param {string} split @param {number} index */
export function splitColor(split, index) {
  return SPLIT_COLORS[split] || FALLBACK[index % FALLBACK.length];
}

/** [[split, accuracy]] of a record (older histories have only train_acc / test_acc). @param {any} r @returns {[string, number][]} */
export const splitScores = (r) => (r.splits?.length ? r.splits.map((s) => [s.split, s.accuracy]) : [['train', r.train_acc], ['test', r.test_acc]]);

// Translucent Okabe-Ito: orange, green, purple.
const BAND = { memorization: translucent(PALETTE.orange, 0.13), id: translucent(PALETTE.green, 0.12), ood: translucent(PALETTE.purple, 0.15) };

/**
 * Bands [{from, to, label, color}] for the detector's phases of a history (`{splits: [{split, accuracy_step}],
 * last_step}`), ending at its last step; none for an empty history (null).
 * @param {{splits: {split: string, accuracy_step: number | null}[], last_step: number} | null} p
 */
export function phaseBands(p) {
  if (!p || !p.splits.length) return [];
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
