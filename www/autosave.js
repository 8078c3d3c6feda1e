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

// Runs one request in its own transaction; resolves once the transaction has committed.
async function request(mode, make) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const r = make(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(r.result);
      tx.onerror = tx.onabort = () => reject(tx.error || new Error('the IndexedDB transaction was aborted'));
    });
  } finally {
    db.close();
  }
}

// SHA-256 of the config's JSON: the page's config and a lab's config serialize the same way.
export async function keyOf(config) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify(config)));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// {bytes, history, step, savedAt} or undefined.
export const load = (key) => request('readonly', (s) => s.get(key));
export const store = (key, saved) => request('readwrite', (s) => s.put(saved, key));
export const remove = (key) => request('readwrite', (s) => s.delete(key));
