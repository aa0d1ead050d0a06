// Where the recording's composite puts each person: side by side, each picture fitted into its
// tile without cropping or stretching. Pure: numbers only.

// The composite's size and frame rate: two 480×360 tiles, enough to see a face or a shared
// screen's layout for the record, and light enough for a doctor's laptop that is also in the
// call (drawing and encoding it costs the page's main thread and a core's share).
export const COMPOSITE = Object.freeze({ width: 960, height: 360, frameRate: 12 });

// `count` tiles side by side across a width × height canvas: [{x, y, width, height}].
export function tileBoxes(count, width = COMPOSITE.width, height = COMPOSITE.height) {
  const n = Math.max(1, count);
  const tileWidth = Math.floor(width / n);
  return Array.from({ length: n }, (_, index) => ({
    x: index * tileWidth,
    y: 0,
    width: index === n - 1 ? width - index * tileWidth : tileWidth,
    height,
  }));
}

// A sourceWidth × sourceHeight picture fitted (letterboxed) and centred in `box`.
export function fitInto(box, sourceWidth, sourceHeight) {
  if (!sourceWidth || !sourceHeight) return { ...box };
  const scale = Math.min(box.width / sourceWidth, box.height / sourceHeight);
  const width = Math.round(sourceWidth * scale);
  const height = Math.round(sourceHeight * scale);
  return {
    x: box.x + Math.floor((box.width - width) / 2),
    y: box.y + Math.floor((box.height - height) / 2),
    width,
    height,
  };
}
