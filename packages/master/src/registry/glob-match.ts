/**
 * Whether `text` matches `glob` as a whole (`*`: any run of characters, `?`:
 * one character, anything else itself). The usual two-pointer walk, which
 * backtracks only to the last `*`: at most |glob| × |text| steps. A glob
 * turned into a RegExp backtracks to every `*` instead, which takes years
 * for `*a*a*…*b` against a long id; an enrollment pattern is matched
 * against ids that peers send, so the cost must not depend on the pattern's shape.
 */
export function globMatches(glob: string, text: string): boolean {
  let g = 0;
  let t = 0;
  // Where the last `*` was, and the text position it currently stands for the end of.
  let star = -1;
  let starText = 0;
  while (t < text.length) {
    if (g < glob.length && (glob[g] === '?' || (glob[g] !== '*' && glob[g] === text[t]))) {
      g += 1;
      t += 1;
    } else if (g < glob.length && glob[g] === '*') {
      star = g;
      starText = t;
      g += 1;
    } else if (star >= 0) {
      // Let the last `*` take one more character and try again after it.
      g = star + 1;
      starText += 1;
      t = starText;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === '*') g += 1;
  return g === glob.length;
}
