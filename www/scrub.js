// A slider over iterations with a Play button that steps through them (the solving and program views).
const PLAY_MS = 400;

export class Scrub {
  // slider: an <input type=range>; button: Play/Stop; draw(): redraws at the slider's value.
  constructor(slider, button, draw) {
    Object.assign(this, { slider, button, draw, timer: null });
    slider.addEventListener('input', () => { this.stop(); draw(); });
    button.addEventListener('click', () => (this.timer ? this.stop() : this.play()));
  }

  play() {
    const s = this.slider;
    if (Number(s.value) >= Number(s.max)) s.value = 1;
    this.draw();
    this.button.textContent = 'Stop';
    this.timer = setInterval(() => {
      if (Number(s.value) >= Number(s.max)) return this.stop();
      s.value = Number(s.value) + 1;
      this.draw();
    }, PLAY_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.button.textContent = 'Play';
  }
}
