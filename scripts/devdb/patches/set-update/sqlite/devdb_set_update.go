// devdb patch (scripts/devdb.sh copies this file into FerretDB's internal/backends/sqlite).

package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/fsql"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// DevdbUpdateSet runs updateMany(filter, {$set: {f: scalar, ...}}) as SQL when
// it can do so exactly, instead of FerretDB's path, which reads every matching
// row, decodes it into a document in Go, applies the update, encodes it again
// and writes it back (0.4 ms a document, most of it decoding and encoding).
//
// Taken only when the whole filter has exact terms (devdbExactFilter) and
// every row the pushed-down filter reads has each filtered field with a type
// on which its term is exact and each set field already present with the
// type of its new value: then the terms select exactly the rows FerretDB's
// filter would match, and json_set replaces each value in place (same key,
// same position, same schema) with the text FerretDB would have stored.
// In one IMMEDIATE transaction: a SELECT counts the rows that do not qualify
// (any: nothing is written, done is false and FerretDB's path runs) and the
// rows that match; one UPDATE writes the rows whose value actually changes,
// as FerretDB's types.Identical decides, which is MongoDB's nModified.
func (c *collection) DevdbUpdateSet(ctx context.Context, filter, update *types.Document) (matched, modified int32, done bool, err error) {
	set, ok := devdbSetFields(update)
	if !ok {
		return 0, 0, false, nil
	}

	terms, ok := devdbExactFilter(filter)
	if !ok {
		return 0, 0, false, nil
	}

	db := c.r.DatabaseGetExisting(ctx, c.dbName)
	if db == nil {
		return 0, 0, false, nil
	}

	meta := c.r.CollectionGet(ctx, c.dbName, c.name)
	if meta == nil || meta.Capped() || devdbSetsUniqueField(meta, set) {
		return 0, 0, false, nil
	}

	where, whereArgs := " WHERE 1", []any(nil)
	if filter != nil {
		if w, a, pushed := devdbPushdown(filter, meta); pushed {
			where, whereArgs = w, a
		}
	}

	s := devdbSetStatements(meta.TableName, where, whereArgs, terms, set)

	err = db.DevdbInImmediateTransaction(ctx, func(conn *fsql.DevdbConn) error {
		var unfit, n int64
		if err := conn.QueryRowContext(ctx, s.count, s.countArgs...).Scan(&unfit, &n); err != nil {
			return lazyerrors.Error(err)
		}

		if unfit > 0 {
			return nil
		}

		if n == 0 {
			matched, modified, done = 0, 0, true // the UPDATE would read the same rows again for nothing
			return nil
		}

		conn.LogPlan(ctx, s.update, s.updateArgs...)

		res, err := conn.ExecContext(ctx, s.update, s.updateArgs...)
		if err != nil {
			return lazyerrors.Error(err)
		}

		changed, err := res.RowsAffected()
		if err != nil {
			return lazyerrors.Error(err)
		}

		matched, modified, done = int32(n), int32(changed), true

		return nil
	})
	if err != nil {
		return 0, 0, false, lazyerrors.Error(err)
	}

	return matched, modified, done, nil
}

// devdbSetsUniqueField: whether a set field is in a unique index. A duplicate
// would fail the UPDATE as a whole, where FerretDB's own path keeps the
// documents it wrote before the failing one (as MongoDB does): left to it.
func devdbSetsUniqueField(meta *metadata.Collection, set []devdbSetField) bool {
	for _, index := range meta.Settings.Indexes {
		if !index.Unique {
			continue
		}

		for _, key := range index.Key {
			for _, f := range set {
				if key.Field == f.field {
					return true
				}
			}
		}
	}

	return false
}

type devdbSetSQL struct {
	count      string
	countArgs  []any
	update     string
	updateArgs []any
}

// devdbSetStatements builds the SELECT and the UPDATE. where is devdbPushdown's
// clause: it drives the index lookup; the exact terms and type checks are
// checked on the rows it finds (their expressions carry a unary + so that
// SQLite does not choose an index by them).
func devdbSetStatements(table, where string, whereArgs []any, terms []devdbExactTerm, set []devdbSetField) devdbSetSQL {
	var fit, exact, changed, assign []string
	var exactArgs, changedArgs, assignArgs []any

	for _, t := range terms {
		fit = append(fit, devdbTypeCheck(t.field, t.types))
		exact = append(exact, t.sql)
		exactArgs = append(exactArgs, t.args...)
	}

	for _, f := range set {
		fit = append(fit, devdbTypeCheck(f.field, []string{f.typ}))
		assign = append(assign, fmt.Sprintf("'$.%s', json(?)", f.field))
		assignArgs = append(assignArgs, f.text)

		expr := fmt.Sprintf("+(%s->'%s')", metadata.DefaultColumn, f.field)
		if len(f.same) == 1 {
			changed = append(changed, expr+" IS NOT ?")
			changedArgs = append(changedArgs, f.same[0])
		} else {
			changed = append(changed, expr+" NOT IN (SELECT value FROM json_each(?))")
			changedArgs = append(changedArgs, string(must.NotFail(json.Marshal(f.same))))
		}
	}

	fitSQL := strings.Join(fit, " AND ")
	exactSQL := "1"

	if len(exact) > 0 {
		exactSQL = strings.Join(exact, " AND ")
	}

	var s devdbSetSQL

	s.count = fmt.Sprintf(
		`SELECT count(*) FILTER (WHERE NOT (%s)), count(*) FILTER (WHERE (%s) AND (%s)) FROM %q%s`,
		fitSQL, fitSQL, exactSQL, table, where,
	)
	s.countArgs = append(append(s.countArgs, exactArgs...), whereArgs...)

	s.update = fmt.Sprintf(
		`UPDATE %q SET %s = json_set(%s, %s)%s AND (%s) AND (%s) AND (%s)`,
		table, metadata.DefaultColumn, metadata.DefaultColumn, strings.Join(assign, ", "),
		where, fitSQL, exactSQL, strings.Join(changed, " OR "),
	)
	s.updateArgs = append(append(append(append(s.updateArgs, assignArgs...), whereArgs...), exactArgs...), changedArgs...)

	return s
}
