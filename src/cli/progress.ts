/** A progress line on stderr: redrawn in place on a terminal, a line every 10% otherwise. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): { update: (done: number, total: number) => void; done: () => void } {
  const started = Date.now();
  let lastDecile = -1;
  let last = '';
  return {
    update(done, total) {
      const fraction = total > 0 ? Math.min(1, done / total) : 0;
      const rate = done / Math.max(0.001, (Date.now() - started) / 1000);
      if (stream.isTTY) {
        const width = 30;
        const filled = Math.round(fraction * width);
        last = `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0)}% ${done}/${total} ${rate.toFixed(0)}/s`;
        stream.write(last);
      } else {
        const decile = Math.floor(fraction * 10);
        if (decile !== lastDecile) {
          lastDecile = decile;
          stream.write(`${label}: ${done}/${total} (${(fraction * 100).toFixed(0)}%) ${rate.toFixed(0)}/s\n`);
        }
      }
    },
    done() {
      if (stream.isTTY && last !== '') stream.write('\n');
    },
  };
}
