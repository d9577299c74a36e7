// devdb patch (scripts/devdb.sh copies this file into FerretDB's internal/backends/decorators/oplog).

package oplog

import (
	"context"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/types"
)

// DevdbUpdateSet passes the update on to the wrapped collection, unless an
// oplog collection exists: its entries are written per document, from the
// documents that only FerretDB's own path has in hand.
func (c *collection) DevdbUpdateSet(ctx context.Context, filter, update *types.Document) (matched, modified int32, done bool, err error) {
	if c.oplogCollection(ctx) != nil {
		return 0, 0, false, nil
	}

	return backends.DevdbUpdateSet(ctx, c.origC, filter, update)
}
