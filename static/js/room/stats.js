// Connection quality from getStats(): round-trip time, packet loss and incoming bitrate.

export function watchConnection(getPeerConnections, onReport, intervalMs = 2000) {
  let previous = new Map();
  const timer = setInterval(async () => {
    let rtt = null;
    let lost = 0;
    let received = 0;
    let bits = 0;
    let framesDecoded = 0;
    let reconnecting = false;
    const seen = new Map();
    for (const pc of getPeerConnections()) {
      if (!pc || pc.connectionState === "closed") continue;
      if (pc.iceConnectionState === "disconnected" || pc.iceConnectionState === "failed") {
        reconnecting = true;
      }
      const stats = await pc.getStats();
      stats.forEach((report) => {
        if (report.type === "candidate-pair" && report.nominated && report.currentRoundTripTime) {
          rtt = Math.max(rtt ?? 0, report.currentRoundTripTime * 1000);
        }
        if (report.type === "inbound-rtp") {
          const before = previous.get(report.id);
          seen.set(report.id, report);
          lost += report.packetsLost - (before?.packetsLost ?? 0);
          received += report.packetsReceived - (before?.packetsReceived ?? 0);
          if (before) {
            bits += ((report.bytesReceived - before.bytesReceived) * 8) /
              ((report.timestamp - before.timestamp) / 1000);
          }
          framesDecoded += report.framesDecoded || 0;
        }
      });
    }
    previous = seen;
    const loss = received + lost > 0 ? (100 * Math.max(0, lost)) / (received + lost) : 0;
    const level = reconnecting ? "reconnecting" : quality(rtt, loss, received);
    onReport({ rtt, loss, bitrate: bits, framesDecoded, quality: level });
  }, intervalMs);
  return () => clearInterval(timer);
}

function quality(rtt, loss, received) {
  if (!received) return "waiting";
  if (loss > 8 || (rtt ?? 0) > 400) return "poor";
  if (loss > 2 || (rtt ?? 0) > 200) return "fair";
  return "good";
}

export function describe({ rtt, loss, bitrate, quality: level }) {
  if (level === "waiting") return "waiting for media…";
  if (level === "reconnecting") return "reconnecting video…";
  const parts = [level];
  if (rtt !== null) parts.push(`${Math.round(rtt)} ms`);
  parts.push(`${loss.toFixed(1)}% loss`);
  parts.push(`${(bitrate / 1e6).toFixed(2)} Mbit/s`);
  return parts.join(" · ");
}
