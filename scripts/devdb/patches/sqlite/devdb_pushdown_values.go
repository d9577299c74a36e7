// devdb patch (scripts/devdb.sh copies this file into FerretDB's internal/backends/sqlite).

package sqlite

import (
	"math"
	"strconv"
	"time"

	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
)

// devdbTwoTo63 is 2^63: float64 values in [-2^63, 2^63) convert to int64 exactly when integral.
const devdbTwoTo63 = 9223372036854775808.0

// devdbEqualTexts returns every text that _ferretdb_sjson->'field' can hold
// for a stored scalar that MongoDB's equality finds equal to v, so that
// `->'field' IN (texts)` never turns such a document away. The texts are
// encoded the way FerretDB stores values (sjson), so they compare bytewise with
// what SQLite's -> returns and with what the field's index holds.
// ok is false for a value that is not pushed down (null, regex, documents,
// arrays, binary, timestamps, non-finite numbers): the caller then leaves that
// condition to FerretDB's filter.
func devdbEqualTexts(v any) (texts []string, ok bool) {
	switch v := v.(type) {
	case string, types.ObjectID, time.Time:
		// An ObjectID is stored as its hex string and a date as its milliseconds:
		// the same text as a string or a number. Those come back too and are
		// turned away by FerretDB's filter; nothing equal is missed.
		return devdbSJSON(v)
	case bool:
		return devdbSJSON(v)
	case int32:
		return devdbIntegerTexts(int64(v))
	case int64:
		return devdbIntegerTexts(v)
	case float64:
		return devdbDoubleTexts(v)
	default:
		return nil, false
	}
}

// devdbIntegerTexts: an int32 or int64 n is equal to the int32/int64 n (stored
// as its decimal digits) and to the double of the same value if there is one
// (stored as Go's shortest float text, which differs from the digits above
// 2^53: 2^60 is "1152921504606847000"). Zero also equals the double -0.
func devdbIntegerTexts(n int64) ([]string, bool) {
	texts := []string{strconv.FormatInt(n, 10)}

	if f := float64(n); f < devdbTwoTo63 && int64(f) == n {
		t, ok := devdbSJSON(f)
		if !ok {
			return nil, false
		}

		texts = append(texts, t...)
	}

	return devdbWithNegativeZero(texts, n == 0), true
}

// devdbDoubleTexts: a double is equal to itself and, when it is integral and
// within int64, to the int32/int64 of that value.
func devdbDoubleTexts(f float64) ([]string, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}

	texts, ok := devdbSJSON(f)
	if !ok {
		return nil, false
	}

	if f == math.Trunc(f) && f >= -devdbTwoTo63 && f < devdbTwoTo63 {
		texts = append(texts, strconv.FormatInt(int64(f), 10))
	}

	return devdbWithNegativeZero(texts, f == 0), true
}

func devdbWithNegativeZero(texts []string, zero bool) []string {
	if zero {
		texts = append(texts, "0", "-0")
	}

	seen := make(map[string]struct{}, len(texts))
	out := texts[:0]

	for _, t := range texts {
		if _, dup := seen[t]; !dup {
			seen[t] = struct{}{}
			out = append(out, t)
		}
	}

	return out
}

// devdbSJSON is the value's stored text, from the encoder FerretDB stores documents with.
func devdbSJSON(v any) ([]string, bool) {
	b, err := sjson.MarshalSingleValue(v)
	if err != nil {
		return nil, false
	}

	return []string{string(b)}, true
}

// devdbRangeBound returns the SQL comparison for {op: v} on
// _ferretdb_sjson->>'field', for a number or a date (stored as its
// milliseconds). ->> gives a stored number as an SQL number, a string as TEXT
// (above every number), a boolean as 1 or 0, null as NULL. MongoDB compares a
// number only with numbers and a date only with dates, so whatever else passes
// or fails the SQL comparison never matches anyway.
//
// ->> does not always give a stored double's exact value: it reads the double's
// shortest decimal text, and the double 2^60, stored as "1152921504606847000",
// comes back as that integer, 24 above 2^60. The bound is therefore widened by
// a relative 2^-40 (more than a thousand times that error; 0.0017 at 1.7e9)
// plus 1e-300 (a subnormal read as 0), and the comparison made inclusive: rows
// at the bound come back and FerretDB's filter turns them away.
func devdbRangeBound(op string, v any) (sqlOp string, bound float64, ok bool) {
	var f float64

	switch v := v.(type) {
	case int32:
		f = float64(v)
	case int64:
		f = float64(v)
	case float64:
		f = v
	case time.Time:
		f = float64(v.UnixMilli())
	default:
		return "", 0, false
	}

	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", 0, false
	}

	slack := math.Abs(f)*0x1p-40 + 1e-300

	switch op {
	case "$lt", "$lte":
		return "<=", f + slack, true
	case "$gt", "$gte":
		return ">=", f - slack, true
	default:
		return "", 0, false
	}
}
