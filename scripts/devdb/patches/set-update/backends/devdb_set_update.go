// devdb patch (scripts/devdb.sh copies this file into FerretDB's internal/backends).

package backends

import (
	"context"

	"github.com/FerretDB/FerretDB/internal/types"
)

// DevdbSetUpdater is a backend collection that can run an updateMany whose
// update is a plain $set in SQL, without reading documents into Go.
// done is false when it did not (the caller then runs FerretDB's own path);
// it has then changed nothing.
type DevdbSetUpdater interface {
	DevdbUpdateSet(ctx context.Context, filter, update *types.Document) (matched, modified int32, done bool, err error)
}

// DevdbUpdateSet runs the update through c's DevdbSetUpdater, looking through
// the contract wrapper that every backend collection comes in.
func DevdbUpdateSet(ctx context.Context, c Collection, filter, update *types.Document) (matched, modified int32, done bool, err error) {
	if cc, ok := c.(*collectionContract); ok {
		c = cc.c
	}

	if u, ok := c.(DevdbSetUpdater); ok {
		return u.DevdbUpdateSet(ctx, filter, update)
	}

	return 0, 0, false, nil
}
