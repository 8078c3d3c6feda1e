// Autosaves in IndexedDB (used by the worker): the latest checkpoint bytes and history of a run under a hash of
// its config, so opening the same URL again continues the run instead of starting from step 0.
const DB = 'looplab';
const STORE = 'autosave';

function openDb() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

// Runs `make(store)` in one transaction; resolves once the transaction has committed (so everything `make` put is
// stored, or nothing is).
async function transaction(mode, make) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      let r;
      try {
        r = make(tx.objectStore(STORE));
      } catch (e) {
        tx.abort();
        reject(named(e));
        return;
      }
      tx.oncomplete = () => resolve(r?.result);
      tx.onerror = tx.onabort = () => reject(named(tx.error) || new Error('the IndexedDB transaction was aborted'));
    });
  } finally {
    db.close();
  }
}

// A full disk or storage quota named with what to do about it.
function named(error) {
  if (error?.name !== 'QuotaExceededError') return error;
  return new Error('the browser\'s storage for this page is full (QuotaExceededError). Free space (Reset deletes '
    + 'this run\'s autosave; the browser\'s site settings delete others) or keep a copy with Save checkpoint; '
    + 'training goes on without autosaves until then');
}

// SHA-256 of the config's JSON: the page's config and a lab's config serialize the same way. Outside a secure
// context (plain http from another machine) there is no crypto.subtle: the JSON itself is the key there, which
// is another origin's database anyway, so the cpu backend still autosaves.
export async function keyOf(config) {
  const json = JSON.stringify(config);
  if (!globalThis.crypto?.subtle) return json;
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(json));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// {bytes, history, step, savedAt, config} or undefined (autosaves before the config was kept have none).
export const load = (key) => transaction('readonly', (s) => s.get(key));
// Every autosave: [{key, saved}].
export async function list() {
  const keys = await transaction('readonly', (s) => s.getAllKeys());
  const values = await transaction('readonly', (s) => s.getAll());
  return keys.map((key, i) => ({ key, saved: values[i] }));
}
// Stores [[key, {bytes, history, step, savedAt, config}], ...] (a run and its twin) in one transaction: all or none.
export const store = (entries) => transaction('readwrite', (s) => {
  for (const [key, saved] of entries) s.put(saved, key);
});
export const remove = (key) => transaction('readwrite', (s) => s.delete(key));
