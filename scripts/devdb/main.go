// Command ferretdb-dev runs an embedded FerretDB v1 (SQLite backend) as the
// project's development MongoDB-wire-protocol server. See scripts/devdb.sh.
//
// Server mode:
//
//	ferretdb-dev -listen 127.0.0.1:0 -data DIR
//
// prints exactly one line "READY mongodb://HOST:PORT/" on stdout once the
// server has answered a wire-protocol ping from this process, then serves
// until SIGTERM/SIGINT and shuts down cleanly. Logs go to stderr.
//
// Ping mode:
//
//	ferretdb-dev -ping mongodb://127.0.0.1:PORT/
//
// sends {ping: 1} over the wire protocol (OP_MSG) and exits 0 iff ok == 1.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free port)")
	data := flag.String("data", "", "data directory for the SQLite backend (created if missing)")
	logLevel := flag.String("log-level", "warn", "FerretDB log level: debug, info, warn, error")
	synchronous := flag.String("sqlite-synchronous", "normal",
		"SQLite PRAGMA synchronous (WAL mode): normal survives process crashes/kills, full also power loss")
	ping := flag.String("ping", "", "ping mode: mongodb://HOST:PORT/ (or HOST:PORT) to ping, then exit")
	timeout := flag.Duration("timeout", 5*time.Second, "ping mode: overall timeout")
	flag.Parse()

	if *ping != "" {
		if err := pingURI(*ping, *timeout); err != nil {
			fmt.Fprintf(os.Stderr, "ferretdb-dev: ping %s: %v\n", *ping, err)
			os.Exit(1)
		}
		fmt.Println("ok")
		return
	}

	if err := serve(*listen, *data, *logLevel, *synchronous); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-dev: %v\n", err)
		os.Exit(1)
	}
}

func serve(listen, data, logLevel, synchronous string) error {
	if data == "" {
		return errors.New("-data DIR is required")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("bad -log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	dir, err := filepath.Abs(data)
	if err != nil {
		return err
	}
	if err = os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	switch synchronous {
	case "off", "normal", "full", "extra":
	default:
		return fmt.Errorf("bad -sqlite-synchronous %q", synchronous)
	}
	// file:///abs/dir/?_pragma=... — FerretDB requires the trailing slash and an existing directory,
	// and adds its own defaults (busy_timeout, journal_mode(wal), auto_vacuum) to the query.
	sqliteURL := (&url.URL{
		Scheme:   "file",
		Path:     dir + "/",
		RawQuery: url.Values{"_pragma": {"synchronous(" + synchronous + ")"}}.Encode(),
	}).String()

	// Binds the TCP listener synchronously; connections queue in the backlog until Run.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	uri := f.MongoDBURI()

	// Only announce readiness after a real wire-protocol round trip.
	readyErr := make(chan error, 1)
	go func() { readyErr <- pingURI(uri, 30*time.Second) }()

	select {
	case err = <-readyErr:
		if err != nil {
			stop()
			<-done
			return fmt.Errorf("self-ping failed: %w", err)
		}
	case err = <-done:
		return fmt.Errorf("server stopped before becoming ready: %v", err)
	}

	fmt.Printf("READY %s\n", uri)
	_ = os.Stdout.Sync()

	err = <-done
	slog.Warn("ferretdb-dev stopped", "uri", uri)
	return err
}

// pingURI dials the address in a mongodb:// URI (or a bare HOST:PORT) and runs {ping: 1}.
// It retries connection errors until the timeout expires.
func pingURI(uri string, timeout time.Duration) error {
	addr := uri
	if strings.Contains(uri, "://") {
		u, err := url.Parse(uri)
		if err != nil {
			return err
		}
		addr = u.Host
		if i := strings.IndexByte(addr, ','); i >= 0 {
			addr = addr[:i]
		}
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "27017")
	}

	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		lastErr = pingOnce(addr, deadline)
		if lastErr == nil || time.Now().After(deadline) {
			return lastErr
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pingOnce sends an OP_MSG {ping: 1, $db: "admin"} and checks the reply for ok: 1.
func pingOnce(addr string, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)

	// BSON {ping: int32(1), $db: "admin"}
	var doc bytes.Buffer
	doc.Write([]byte{0, 0, 0, 0})
	doc.WriteByte(0x10)
	doc.WriteString("ping\x00")
	_ = binary.Write(&doc, binary.LittleEndian, int32(1))
	doc.WriteByte(0x02)
	doc.WriteString("$db\x00")
	_ = binary.Write(&doc, binary.LittleEndian, int32(len("admin")+1))
	doc.WriteString("admin\x00")
	doc.WriteByte(0)
	docBytes := doc.Bytes()
	binary.LittleEndian.PutUint32(docBytes, uint32(len(docBytes)))

	const opMsg = 2013
	var msg bytes.Buffer
	hdr := []int32{int32(16 + 4 + 1 + len(docBytes)), 1, 0, opMsg}
	_ = binary.Write(&msg, binary.LittleEndian, hdr)
	_ = binary.Write(&msg, binary.LittleEndian, uint32(0)) // flagBits
	msg.WriteByte(0)                                       // section kind 0: body
	msg.Write(docBytes)
	if _, err = conn.Write(msg.Bytes()); err != nil {
		return err
	}

	var rh [4]int32
	if err = binary.Read(conn, binary.LittleEndian, &rh); err != nil {
		return err
	}
	if rh[0] < 16+4+1+5 || rh[0] > 16<<20 {
		return fmt.Errorf("bad reply length %d", rh[0])
	}
	if rh[3] != opMsg {
		return fmt.Errorf("unexpected reply opcode %d", rh[3])
	}
	body := make([]byte, rh[0]-16)
	if _, err = io.ReadFull(conn, body); err != nil {
		return err
	}
	if body[4] != 0 {
		return fmt.Errorf("unexpected section kind %d", body[4])
	}
	ok, err := bsonOK(body[5:])
	if err != nil {
		return err
	}
	if ok != 1 {
		return fmt.Errorf("ping replied ok=%v", ok)
	}
	return nil
}

// bsonOK finds the top-level "ok" field of a BSON document and returns it as float64.
func bsonOK(doc []byte) (float64, error) {
	if len(doc) < 5 {
		return 0, errors.New("short BSON document")
	}
	n := int(binary.LittleEndian.Uint32(doc))
	if n > len(doc) || n < 5 {
		return 0, errors.New("bad BSON document length")
	}
	b := doc[4 : n-1]
	for len(b) > 0 {
		t := b[0]
		end := bytes.IndexByte(b[1:], 0)
		if end < 0 {
			return 0, errors.New("bad BSON key")
		}
		key := string(b[1 : 1+end])
		v := b[2+end:]
		var size int
		switch t {
		case 0x01: // double
			if key == "ok" && len(v) >= 8 {
				return math.Float64frombits(binary.LittleEndian.Uint64(v)), nil
			}
			size = 8
		case 0x10: // int32
			if key == "ok" && len(v) >= 4 {
				return float64(int32(binary.LittleEndian.Uint32(v))), nil
			}
			size = 4
		case 0x12: // int64
			if key == "ok" && len(v) >= 8 {
				return float64(int64(binary.LittleEndian.Uint64(v))), nil
			}
			size = 8
		case 0x08: // bool
			if key == "ok" && len(v) >= 1 {
				if v[0] != 0 {
					return 1, nil
				}
				return 0, nil
			}
			size = 1
		case 0x02: // string
			if len(v) < 4 {
				return 0, errors.New("bad BSON string")
			}
			size = 4 + int(binary.LittleEndian.Uint32(v))
		case 0x03, 0x04: // document, array
			if len(v) < 4 {
				return 0, errors.New("bad BSON document")
			}
			size = int(binary.LittleEndian.Uint32(v))
		case 0x07: // ObjectId
			size = 12
		case 0x09, 0x11: // datetime, timestamp
			size = 8
		case 0x0A: // null
			size = 0
		default:
			return 0, fmt.Errorf("unsupported BSON type 0x%02x before ok", t)
		}
		if size > len(v) {
			return 0, errors.New("truncated BSON")
		}
		b = v[size:]
	}
	return 0, errors.New(`no "ok" field in reply`)
}
