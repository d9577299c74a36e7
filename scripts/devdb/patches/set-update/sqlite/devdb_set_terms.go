// devdb patch (scripts/devdb.sh copies this file into FerretDB's internal/backends/sqlite).

package sqlite

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// devdbSetField is one field of a plain $set: its sjson type name, the text
// its new value is stored as, and the stored texts of values that FerretDB
// finds identical to it (an update to those changes nothing).
type devdbSetField struct {
	field string
	typ   string
	text  string
	same  []string
}

// devdbRowJSONB names a row's document as JSONB in devdbSetStatements: the
// terms read it there, parsed once per row (each -> on the stored text parses
// the whole document again: 10 µs each).
const devdbRowJSONB = "j"

// devdbExactTerm is a filter condition in SQL that is exact (the same answer
// as FerretDB's filter) on every row whose field has one of types in the
// document's schema.
type devdbExactTerm struct {
	field string
	types []string
	sql   string
	args  []any
}

// devdbSetFields: the fields of update when it is exactly {$set: {f: scalar, ...}}
// on top-level plain names other than _id, with booleans, int32, int64, finite
// doubles, dates or valid UTF-8 strings; ok false for anything else.
func devdbSetFields(update *types.Document) ([]devdbSetField, bool) {
	if update == nil || update.Len() != 1 || update.Keys()[0] != "$set" {
		return nil, false
	}

	set, ok := must.NotFail(update.Get("$set")).(*types.Document)
	if !ok || set.Len() == 0 {
		return nil, false
	}

	fields := make([]devdbSetField, 0, set.Len())
	seen := map[string]bool{}

	for _, field := range set.Keys() {
		if !devdbPlainField(field) || field == "_id" || seen[field] {
			return nil, false
		}

		seen[field] = true
		v := must.NotFail(set.Get(field))

		var typ string

		switch v := v.(type) {
		case bool:
			typ = "bool"
		case int32:
			typ = "int"
		case int64:
			typ = "long"
		case float64:
			// -0: FerretDB's own path stores a $set of -0 as 0 (MongoDB keeps -0); left to it.
			if math.IsNaN(v) || math.IsInf(v, 0) || (v == 0 && math.Signbit(v)) {
				return nil, false
			}

			typ = "double"
		case time.Time:
			typ = "date"
		case string:
			if !utf8.ValidString(v) {
				return nil, false
			}

			typ = "string"
		default:
			return nil, false
		}

		texts, ok := devdbSJSON(v)
		if !ok {
			return nil, false
		}

		same := texts
		if f, isDouble := v.(float64); isDouble && f == 0 {
			same = []string{"0", "-0"} // 0 and -0 are == for FerretDB's types.Identical
		}

		fields = append(fields, devdbSetField{field: field, typ: typ, text: texts[0], same: same})
	}

	return fields, true
}

// devdbPlainField: a top-level name that devdbPushdown handles too.
func devdbPlainField(field string) bool {
	return devdbFieldName.MatchString(field) && !strings.HasPrefix(field, backends.ReservedPrefix)
}

// devdbExactFilter turns the whole filter into exact terms, or ok false when
// any part of it is not one of: {f: v}, {f: {$eq: v}}, {f: {$in: [v, ...]}}
// with v a string, boolean, number, date or ObjectID (all $in values of one of
// those kinds), {f: {$lt/$lte/$gt/$gte: int32, int64 or date}}.
func devdbExactFilter(filter *types.Document) ([]devdbExactTerm, bool) {
	if filter == nil {
		return nil, true
	}

	var terms []devdbExactTerm
	seen := map[string]bool{}

	for _, field := range filter.Keys() {
		if !devdbPlainField(field) || seen[field] {
			return nil, false
		}

		seen[field] = true
		v := must.NotFail(filter.Get(field))

		ops, isDoc := v.(*types.Document)
		if !isDoc {
			t, ok := devdbExactIn(field, []any{v})
			if !ok {
				return nil, false
			}

			terms = append(terms, t)

			continue
		}

		opSeen := map[string]bool{}

		for _, op := range ops.Keys() {
			if opSeen[op] {
				return nil, false
			}

			opSeen[op] = true

			t, ok := devdbExactOperator(field, op, must.NotFail(ops.Get(op)))
			if !ok {
				return nil, false
			}

			terms = append(terms, t)
		}

		if len(opSeen) == 0 {
			return nil, false // {f: {}} is an equality with an empty document
		}
	}

	return terms, true
}

func devdbExactOperator(field, op string, v any) (devdbExactTerm, bool) {
	switch op {
	case "$eq":
		return devdbExactIn(field, []any{v})
	case "$in":
		arr, ok := v.(*types.Array)
		if !ok || arr.Len() == 0 {
			return devdbExactTerm{}, false
		}

		values := make([]any, arr.Len())
		for i := range values {
			values[i] = must.NotFail(arr.Get(i))
		}

		return devdbExactIn(field, values)
	case "$lt", "$lte", "$gt", "$gte":
		return devdbExactRange(field, op, v)
	default:
		return devdbExactTerm{}, false
	}
}

// devdbExactIn: the field equals one of values, all of one kind. On a row whose
// field has a type of that kind, equality is equality of the stored texts:
// devdbEqualTexts lists every text of an equal value of those types.
func devdbExactIn(field string, values []any) (devdbExactTerm, bool) {
	var kind []string
	var texts []string

	for _, v := range values {
		k, ok := devdbKindOf(v)
		if !ok || (kind != nil && strings.Join(k, ",") != strings.Join(kind, ",")) {
			return devdbExactTerm{}, false
		}

		kind = k

		t, ok := devdbEqualTexts(v)
		if !ok {
			return devdbExactTerm{}, false
		}

		texts = append(texts, t...)
	}

	expr := fmt.Sprintf("%s->'%s'", devdbRowJSONB, field)
	if len(texts) == 1 {
		return devdbExactTerm{field: field, types: kind, sql: expr + " = ?", args: []any{texts[0]}}, true
	}

	arg := string(must.NotFail(json.Marshal(texts)))

	return devdbExactTerm{field: field, types: kind, sql: expr + " IN (SELECT value FROM json_each(?))", args: []any{arg}}, true
}

// devdbKindOf: the schema types whose values MongoDB's equality can find equal to v.
func devdbKindOf(v any) ([]string, bool) {
	switch v.(type) {
	case string:
		return []string{"string"}, true
	case bool:
		return []string{"bool"}, true
	case int32, int64, float64:
		return []string{"int", "long", "double"}, true
	case time.Time:
		return []string{"date"}, true
	case types.ObjectID:
		return []string{"objectId"}, true
	default:
		return nil, false
	}
}

// devdbExactRange: ->> gives an int or long exactly (an SQL integer) and a date
// as its milliseconds, so the comparison is exact on those types. Doubles are
// left out: ->> does not always read a stored double back exactly.
func devdbExactRange(field, op string, v any) (devdbExactTerm, bool) {
	sqlOp := map[string]string{"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}[op]

	var kind []string
	var bound int64

	switch v := v.(type) {
	case int32:
		kind, bound = []string{"int", "long"}, int64(v)
	case int64:
		kind, bound = []string{"int", "long"}, v
	case time.Time:
		kind, bound = []string{"date"}, v.UnixMilli()
	default:
		return devdbExactTerm{}, false
	}

	sql := fmt.Sprintf("%s->>'%s' %s ?", devdbRowJSONB, field, sqlOp)

	return devdbExactTerm{field: field, types: kind, sql: sql, args: []any{bound}}, true
}

// devdbTypeCheck: the field exists in the row with one of types (its schema entry, never NULL).
func devdbTypeCheck(field string, types []string) string {
	return fmt.Sprintf(`ifnull(%s->>'$."$s".p.%s.t', '') IN ('%s')`, devdbRowJSONB, field, strings.Join(types, "', '"))
}
