/**
 * The package's root folder (the one holding package.json and web/). This file sits one level below it in
 * src/ and dist/ alike, and the release bundle maps import.meta.url to <root>/dist/main.js, which is one
 * level below too; so files found from here resolve the same way in the workspace and when installed.
 */
export const PACKAGE_ROOT = new URL('../', import.meta.url);
