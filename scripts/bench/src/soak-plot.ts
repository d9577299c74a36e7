import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { ROOT } from './processes.js';

export interface PlotSeries {
  title: string;
  unit: string;
  /** [x (soak minutes), y] */
  points: [number, number][];
}

const W = 900;
const PANEL_H = 170;
const PAD = { left: 70, right: 20, top: 28, bottom: 26 };

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  return Math.ceil((max * 1.1) / step) * step;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One panel per series, stacked; y from 0 so that growth is seen at its true size. */
export function soakSvg(title: string, series: readonly PlotSeries[], xMax: number): string {
  const height = 40 + series.length * PANEL_H;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  series.forEach((s, i) => {
    const top = 40 + i * PANEL_H;
    const x0 = PAD.left;
    const x1 = W - PAD.right;
    const y0 = top + PANEL_H - PAD.bottom;
    const y1 = top + PAD.top;
    const yMax = niceMax(Math.max(0, ...s.points.map(([, y]) => y)));
    const sx = (x: number): number => x0 + ((x1 - x0) * x) / Math.max(1e-9, xMax);
    const sy = (y: number): number => y0 - ((y0 - y1) * y) / yMax;
    parts.push(`<text x="${x0}" y="${top + 18}" font-weight="bold">${esc(`${s.title} (${s.unit})`)}</text>`);
    parts.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#444"/><line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#444"/>`);
    for (let k = 0; k <= 4; k += 1) {
      const y = (yMax * k) / 4;
      parts.push(`<line x1="${x0}" y1="${sy(y)}" x2="${x1}" y2="${sy(y)}" stroke="#ddd"/><text x="${x0 - 6}" y="${sy(y) + 4}" text-anchor="end">${esc(Number(y.toPrecision(3)).toString())}</text>`);
    }
    for (let k = 0; k <= 6; k += 1) {
      const x = (xMax * k) / 6;
      parts.push(`<text x="${sx(x)}" y="${y0 + 16}" text-anchor="middle">${Math.round(x)} min</text>`);
    }
    if (s.points.length > 0) {
      const path = s.points.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      parts.push(`<path d="${path}" fill="none" stroke="#1f6feb" stroke-width="2"/>`);
      for (const [x, y] of s.points) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="#1f6feb"/>`);
    }
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * Writes the plot as SVG, and as PNG through the Debian chromium the page's
 * tests already use (scripts/ensure-chromium.sh, puppeteer-core): no new
 * dependency, and a real text renderer for the axes. Returns the PNG's path,
 * or undefined (with the reason) when no chromium could be had: the SVG is
 * written either way.
 */
export async function writeSoakPlot(file: string, title: string, series: readonly PlotSeries[], xMax: number): Promise<{ svg: string; png: string | undefined; note?: string }> {
  const svg = soakSvg(title, series, xMax);
  const svgFile = file.replace(/\.png$/, '.svg');
  writeFileSync(svgFile, svg);
  let executablePath: string;
  try {
    executablePath = execFileSync('bash', ['scripts/ensure-chromium.sh'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 }).trim();
  } catch (error) {
    return { svg: svgFile, png: undefined, note: `no chromium: ${error instanceof Error ? error.message : String(error)}` };
  }
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const height = 40 + series.length * PANEL_H;
    await page.setViewport({ width: W, height });
    await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
    await page.screenshot({ path: file, clip: { x: 0, y: 0, width: W, height } });
  } finally {
    await browser.close();
  }
  return { svg: svgFile, png: file };
}
