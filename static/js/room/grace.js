// Someone missing from a room.state may be reconnecting (a reload, a dropped socket): what
// belongs to them is kept for a grace before it goes (docs/protocol.md). No DOM; timers only.

export const LEAVE_GRACE_MS = 8000;

// Forgets keys that are gone, each unless it is back within `graceMs`.
export class LeaveGrace {
  constructor(forget, graceMs = LEAVE_GRACE_MS) {
    this.forget = forget;
    this.graceMs = graceMs;
    this.timers = new Map(); // key -> timer, while the key is away
  }

  // `keys`: what we hold now; `here(key)`: whether the room still has it.
  update(keys, here) {
    for (const key of [...this.timers.keys()]) {
      if (here(key)) this.cancel(key);
    }
    for (const key of keys) {
      if (here(key) || this.timers.has(key)) continue;
      const timer = setTimeout(() => {
        this.timers.delete(key);
        this.forget(key);
      }, this.graceMs);
      this.timers.set(key, timer);
    }
  }

  // Back, or gone for good some other way: no forgetting later.
  cancel(key) {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  isLeaving(key) {
    return this.timers.has(key);
  }

  clear() {
    for (const key of [...this.timers.keys()]) this.cancel(key);
  }
}
