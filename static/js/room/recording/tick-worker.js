// The recorder's clock (recorder.js, startTicking): a worker's timers keep running in a hidden
// tab. Its own file, not a blob: URL, so the site's CSP needs no blob: workers.
onmessage = ({ data }) => setTimeout(() => postMessage(0), data);
