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
// rows that match, and lists the rows whose value actually changes, as
// FerretDB's types.Identical decides (MongoDB's nModified); one UPDATE
// writes those by rowid.
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

	where, whereArgs := "", []any(nil)
	if filter != nil {
		if w, a, pushed := devdbPushdown(filter, meta); pushed {
			where, whereArgs = w, a
		}
	}

	s := devdbSetStatements(meta.TableName, where, whereArgs, terms, set)

	err = db.DevdbInImmediateTransaction(ctx, func(conn *fsql.DevdbConn) error {
		conn.LogPlan(ctx, s.count, s.countArgs...)

		var unfit, n int64
		var rowids string
		if err := conn.QueryRowContext(ctx, s.count, s.countArgs...).Scan(&unfit, &n, &rowids); err != nil {
			return lazyerrors.Error(err)
		}

		if unfit > 0 {
			return nil
		}

		matched, done = int32(n), true
		if rowids == "[]" {
			return nil
		}

		args := append(append([]any{}, s.updateArgs...), rowids)
		conn.LogPlan(ctx, s.update, args...)

		res, err := conn.ExecContext(ctx, s.update, args...)
		if err != nil {
			return lazyerrors.Error(err)
		}

		changed, err := res.RowsAffected()
		if err != nil {
			return lazyerrors.Error(err)
		}

		modified = int32(changed)

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
	updateArgs []any // then the rowids, as a JSON array
}

// devdbSetStatements builds the SELECT and the UPDATE. where is devdbPushdown's
// clause: it drives the index lookup. The rows it finds are parsed once into
// JSONB (a MATERIALIZED CTE, so that SQLite does not parse them again for each
// term), where the exact terms, the type checks and the change checks read
// them. The UPDATE writes the rows the SELECT listed, by rowid.
func devdbSetStatements(table, where string, whereArgs []any, terms []devdbExactTerm, set []devdbSetField) devdbSetSQL {
	var fit, exact, changed, assign []string
	var exactArgs, changedArgs []any

	for _, t := range terms {
		fit = append(fit, devdbTypeCheck(t.field, t.types))
		exact = append(exact, t.sql)
		exactArgs = append(exactArgs, t.args...)
	}

	var s devdbSetSQL

	for _, f := range set {
		fit = append(fit, devdbTypeCheck(f.field, []string{f.typ}))
		assign = append(assign, fmt.Sprintf("'$.%s', json(?)", f.field))
		s.updateArgs = append(s.updateArgs, f.text)

		expr := fmt.Sprintf("%s->'%s'", devdbRowJSONB, f.field)
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

	s.count = fmt.Sprintf(
		`WITH r AS MATERIALIZED (SELECT rowid AS id, jsonb(%s) AS %s FROM %q%s) `+
			`SELECT count(*) FILTER (WHERE NOT (%s)), count(*) FILTER (WHERE (%s) AND (%s)), `+
			`json_group_array(id) FILTER (WHERE (%s) AND (%s) AND (%s)) FROM r`,
		metadata.DefaultColumn, devdbRowJSONB, table, where,
		fitSQL, fitSQL, exactSQL, fitSQL, exactSQL, strings.Join(changed, " OR "),
	)
	s.countArgs = append(append(append(append(s.countArgs, whereArgs...), exactArgs...), exactArgs...), changedArgs...)

	s.update = fmt.Sprintf(
		`UPDATE %q SET %s = json_set(%s, %s) WHERE rowid IN (SELECT value FROM json_each(?))`,
		table, metadata.DefaultColumn, metadata.DefaultColumn, strings.Join(assign, ", "),
	)

	return s
}
