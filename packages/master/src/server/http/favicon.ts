import type { RouteHandler } from './fleet-api.js';
import { SECURITY_HEADERS } from './respond.js';

/**
 * Browsers ask every site for `/favicon.ico`. Unanswered, each page load
 * logged a 404 warning ("http request refused"), noise in the operators'
 * `level >= 40` filter; answered, the page's tab gets an icon: a small grid of
 * machines, one lit. SVG, which browsers take at this path by its type.
 */
const ICON = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">' +
    '<rect width="16" height="16" rx="3" fill="#1f2937"/>' +
    '<rect x="3" y="3" width="4" height="4" fill="#22c55e"/><rect x="9" y="3" width="4" height="4" fill="#9ca3af"/>' +
    '<rect x="3" y="9" width="4" height="4" fill="#9ca3af"/><rect x="9" y="9" width="4" height="4" fill="#9ca3af"/>' +
    '</svg>',
);

export const faviconRoute: RouteHandler = (req, res, path) => {
  if (path !== '/favicon.ico' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'image/svg+xml', 'Cache-Control': 'max-age=86400' });
  res.end(req.method === 'HEAD' ? undefined : ICON);
  return true;
};
