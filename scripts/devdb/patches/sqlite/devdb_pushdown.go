// devdb patch (scripts/devdb.sh copies this file into FerretDB's internal/backends/sqlite).

package sqlite

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// Upstream pushes down only {_id: X}; every other query reads and decodes the
// whole collection in Go (0.6 s at 10,000 documents). devdbPushdown turns the
// conditions on top-level fields that it can answer exactly into SQL, in the
// form of FerretDB's expression indexes (_ferretdb_sjson->"field"), so SQLite
// reads the matching rows through an index:
//
//   - {field: scalar} and {field: {$eq: scalar}}: ->'field' IN (the stored texts of every equal value),
//   - {field: {$in: [scalars]}}: the same with the texts of all of them,
//   - {field: {$lt/$lte/$gt/$gte: number or date}}: ->>'field' compared in SQL (a little wider).
//
// Each condition also lets every row whose field is an array through (MongoDB
// matches an array holding a match), except on _id, which cannot be an array.
// Everything else (other operators, $or, dotted paths, null, regexes) is left
// out, which only lets more rows through. FerretDB still runs its own filter
// on every row that comes back, so the SQL can only narrow what is read, never
// change an answer.
//
// Ranges are compared on each row, not through an index: the index holds the
// JSON text (numbers sort as text there) and SQLite does not read JSON
// expressions back from an index. One condition drives the index lookup (see
// devdbDriver); the others get a unary + so SQLite checks them on the rows the
// driver found instead of choosing a worse index by its default estimates.

// devdbFieldName: top-level names that are plain identifiers, so 'name' is
// the same JSON label as the index's "name" and needs no quoting. Names
// starting with _ferretdb_ could be taken for a table column in the index.
var devdbFieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type devdbCondition struct {
	field string
	texts []string // equality or $in: the field's text is one of these
	op    string   // range: SQL comparison operator; texts is nil
	value any      // range: the SQL value to compare ->> with
}

// devdbPushdown returns the WHERE clause and its arguments for filter, or ok
// false when no condition can be pushed down. meta names the collection's
// indexes, which decide the driving condition.
func devdbPushdown(filter *types.Document, meta *metadata.Collection) (where string, args []any, ok bool) {
	conds := devdbConditions(filter)
	if len(conds) == 0 {
		return "", nil, false
	}

	driver := devdbDriver(conds, meta)
	terms := make([]string, len(conds))

	for i, c := range conds {
		expr := fmt.Sprintf("%s->'%s'", metadata.DefaultColumn, c.field)
		if i != driver {
			expr = "+(" + expr + ")"
		}

		var term string

		switch {
		case c.texts == nil:
			term = fmt.Sprintf("%s->>'%s' %s ?", metadata.DefaultColumn, c.field, c.op)
			args = append(args, c.value)
		case len(c.texts) == 1:
			term = expr + " = ?"
			args = append(args, c.texts[0])
		default:
			// One argument, whatever the size of the list (SQLite takes at most
			// 32,766 parameters), and one statement text for SQLite's cache.
			term = expr + " IN (SELECT value FROM json_each(?))"
			args = append(args, string(must.NotFail(json.Marshal(c.texts))))
		}

		if c.field != "_id" {
			// Array texts start with '[' and sort below '\' (the next byte).
			term = fmt.Sprintf(`(%s OR (%s >= '[' AND %s < '\'))`, term, expr, expr)
		}

		terms[i] = term
	}

	return " WHERE " + strings.Join(terms, " AND "), args, true
}

// devdbConditions collects the pushable conditions of filter, in its order.
func devdbConditions(filter *types.Document) []devdbCondition {
	if filter == nil {
		return nil
	}

	var conds []devdbCondition

	for _, field := range filter.Keys() {
		if !devdbFieldName.MatchString(field) || strings.HasPrefix(field, backends.ReservedPrefix) {
			continue
		}

		v := must.NotFail(filter.Get(field))

		ops, isDoc := v.(*types.Document)
		if !isDoc {
			if texts, ok := devdbEqualTexts(v); ok {
				conds = append(conds, devdbCondition{field: field, texts: texts})
			}

			continue
		}

		conds = append(conds, devdbOperatorConditions(field, ops)...)
	}

	return conds
}

// devdbOperatorConditions: {field: {$op: v, ...}}. A document with a key that
// is not an operator is an equality with a document: nothing is pushed down.
func devdbOperatorConditions(field string, ops *types.Document) []devdbCondition {
	keys := ops.Keys()
	for _, k := range keys {
		if !strings.HasPrefix(k, "$") {
			return nil
		}
	}

	var conds []devdbCondition

	for _, op := range keys {
		v := must.NotFail(ops.Get(op))

		switch op {
		case "$eq":
			if texts, ok := devdbEqualTexts(v); ok {
				conds = append(conds, devdbCondition{field: field, texts: texts})
			}
		case "$in":
			if texts, ok := devdbInTexts(v); ok {
				conds = append(conds, devdbCondition{field: field, texts: texts})
			}
		case "$lt", "$lte", "$gt", "$gte":
			if sqlOp, bound, ok := devdbRangeBound(op, v); ok {
				conds = append(conds, devdbCondition{field: field, op: sqlOp, value: bound})
			}
		}
	}

	return conds
}

// devdbInTexts: the texts of every element of a $in array, or ok false if
// one is not pushed down (null matches a missing field, a regex is a match).
func devdbInTexts(v any) ([]string, bool) {
	arr, ok := v.(*types.Array)
	if !ok {
		return nil, false
	}

	texts := make([]string, 0, arr.Len())

	for i := 0; i < arr.Len(); i++ {
		t, ok := devdbEqualTexts(must.NotFail(arr.Get(i)))
		if !ok {
			return nil, false
		}

		texts = append(texts, t...)
	}

	if len(texts) == 0 {
		// $in: [] matches nothing; an IN over an empty list says so.
		return []string{}, true
	}

	return texts, true
}

// devdbDriver picks the condition that SQLite looks up through an index: an
// equality or $in on an indexed field, preferring a unique index, then values
// other than booleans (a flag matches about half the collection), then the
// shortest list, then the first. -1 (none) when only ranges were pushed down.
func devdbDriver(conds []devdbCondition, meta *metadata.Collection) int {
	best := -1
	var bestRank [4]int

	for i, c := range conds {
		if c.texts == nil {
			continue
		}

		indexed := 0

		for _, index := range meta.Settings.Indexes {
			if len(index.Key) > 0 && index.Key[0].Field == c.field {
				indexed = max(indexed, 1)
				if index.Unique {
					indexed = 2
				}
			}
		}

		flags := 1
		for _, t := range c.texts {
			if t != "true" && t != "false" {
				flags = 0
			}
		}

		rank := [4]int{indexed, 1 - flags, -len(c.texts), -i}
		if best < 0 || devdbRankAbove(rank, bestRank) {
			best, bestRank = i, rank
		}
	}

	return best
}

func devdbRankAbove(a, b [4]int) bool {
	for k := range a {
		if a[k] != b[k] {
			return a[k] > b[k]
		}
	}

	return false
}
