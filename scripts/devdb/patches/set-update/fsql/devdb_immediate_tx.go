// devdb patch (scripts/devdb.sh copies this file into FerretDB's internal/util/fsql).

package fsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/logging"
)

// DevdbConn is one pooled connection inside a write transaction.
type DevdbConn struct {
	conn *sql.Conn
	l    *slog.Logger
}

// DevdbInImmediateTransaction runs f inside BEGIN IMMEDIATE … COMMIT on one
// connection. InTransaction's BEGIN takes the write lock only at the first
// write: a transaction that reads and then writes fails at once with
// SQLITE_BUSY when another connection wrote in between (WAL keeps its read
// snapshot), while BEGIN IMMEDIATE waits for the lock (busy_timeout) first.
// Rolled back if f fails.
func (db *DB) DevdbInImmediateTransaction(ctx context.Context, f func(*DevdbConn) error) error {
	conn, err := db.sqlDB.Conn(ctx)
	if err != nil {
		return lazyerrors.Error(err)
	}
	defer conn.Close() //nolint:errcheck // back to the pool

	c := &DevdbConn{conn: conn, l: db.l}
	if _, err = c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return lazyerrors.Error(err)
	}

	if err = f(c); err == nil {
		if _, err = c.ExecContext(ctx, "COMMIT"); err == nil {
			return nil
		}
	}

	// Even when ctx is done: the connection must not go back to the pool inside a
	// transaction. If ROLLBACK fails too, ErrBadConn makes database/sql discard it.
	if _, rbErr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}

	return err
}

// ExecContext runs a statement, logged at debug level like FerretDB's own (without the arguments).
func (c *DevdbConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	start := time.Now()
	res, err := c.conn.ExecContext(ctx, query, args...)

	fields := []any{slog.Int("args", len(args)), slog.Duration("time", time.Since(start)), logging.Error(err)}
	if res != nil && strings.HasPrefix(query, "UPDATE") { // SQLite reports the last change count for BEGIN/COMMIT too
		ra, _ := res.RowsAffected()
		fields = append(fields, slog.Int64("rows", ra))
	}

	c.l.With(fields...).DebugContext(ctx, fmt.Sprintf("devdb <<< %s", query))

	return res, err
}

// QueryRowContext runs a query that returns one row, logged like ExecContext.
func (c *DevdbConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c.l.With(slog.Int("args", len(args))).DebugContext(ctx, fmt.Sprintf("devdb >>> %s", query))
	return c.conn.QueryRowContext(ctx, query, args...)
}

// LogPlan logs SQLite's EXPLAIN QUERY PLAN of a statement at debug level (and
// runs it only then), one line: "devdb plan <<< detail | detail ...".
func (c *DevdbConn) LogPlan(ctx context.Context, query string, args ...any) {
	if !c.l.Enabled(ctx, slog.LevelDebug) {
		return
	}

	rows, err := c.conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		c.l.DebugContext(ctx, "devdb plan failed", logging.Error(err))
		return
	}
	defer rows.Close() //nolint:errcheck // read-only

	var details []string

	for rows.Next() {
		var id, parent, notused int
		var detail string

		if err = rows.Scan(&id, &parent, &notused, &detail); err != nil {
			break
		}

		details = append(details, detail)
	}

	c.l.DebugContext(ctx, "devdb plan <<< "+strings.Join(details, " | "))
}
