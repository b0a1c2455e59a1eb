package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
)

// verifyFile checks the structure of a bbolt file (its bytes b) before bbolt
// maps it. bbolt trusts its pages: data pages carry no checksum, page IDs
// index straight into the mmap, and a bad one makes bbolt panic, fault
// outside the mapping, or allocate without bound, sometimes on a goroutine
// of its own (Tx.Check) where nothing can recover. A kiosk whose disk
// flipped a bit must get ErrCorrupt at startup, not a crash loop, so this
// walks every page reachable from the active meta page with bounds checks,
// the way bbolt would, without touching unsafe memory.
//
// The checks mirror go.etcd.io/bbolt v1.5.0 (checkedBoltVersion) internal/
// common (page.go, meta.go) and the meta selection in db.go: the meta page
// with the higher transaction ID wins if it is valid, otherwise the other
// one. A test fails when go.mod moves to another bbolt version, so that the
// checks are reviewed against it.
// checkedBoltVersion is the bbolt release whose file format verifyFile
// mirrors.
const checkedBoltVersion = "v1.5.0"

func verifyFile(b []byte) error {
	if len(b) == 0 {
		// bbolt would initialise it, and nfcd would start with no replay
		// marks: a new store is only ever made by createFile.
		return errEmptyFile
	}
	ps, m, err := activeMeta(b)
	if err != nil {
		return err
	}
	if m.pgid < 2 || m.pgid > uint64(len(b)/ps) {
		return fmt.Errorf("high-water mark %d pages of %d bytes, file %d bytes: truncated", m.pgid, ps, len(b))
	}
	v := verifier{b: b, ps: ps, hw: m.pgid, used: make([]bool, m.pgid)}
	v.used[0], v.used[1] = true, true
	if m.freelist != pgidNoFreelist {
		if err := v.freelist(m.freelist); err != nil {
			return err
		}
	}
	return v.walkPage(m.root, 0)
}

// bbolt on-disk constants (internal/common/types.go, page.go).
const (
	boltMagic          = 0xED0CDAED
	boltVersion        = 2
	pageHeaderSize     = 16 // id u64, flags u16, count u16, overflow u32
	pageElemSize       = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHeaderSize   = 16 // root pgid u64, sequence u64
	metaChecksumOffset = 56
	flagBranch         = 0x01
	flagLeaf           = 0x02
	flagFreelist       = 0x10
	flagBucketLeaf     = 0x01
	pgidNoFreelist     = ^uint64(0)
	maxTreeDepth       = 64
)

// bbolt writes its structs in the machine's byte order.
var ne = binary.NativeEndian

var errBadPage = errors.New("malformed page")

// errEmptyFile describes a 0-byte database file.
var errEmptyFile = errors.New("empty file (0 bytes), not a store nfcd finished creating; " +
	"if it was this kiosk's store its replay marks are lost: move it away to start a new store")

type boltMeta struct {
	pageSize               uint32
	root, freelist, pgid   uint64
	txid                   uint64
	magicOK, versionOK, ok bool
}

// parseMeta reads the meta struct that follows the page header at off.
func parseMeta(b []byte, off int) boltMeta {
	if off < 0 || off+pageHeaderSize+metaChecksumOffset+8 > len(b) {
		return boltMeta{}
	}
	d := b[off+pageHeaderSize:]
	m := boltMeta{
		pageSize: ne.Uint32(d[8:]),
		root:     ne.Uint64(d[16:]),
		freelist: ne.Uint64(d[32:]),
		pgid:     ne.Uint64(d[40:]),
		txid:     ne.Uint64(d[48:]),
	}
	m.magicOK = ne.Uint32(d) == boltMagic
	m.versionOK = ne.Uint32(d[4:]) == boltVersion
	h := fnv.New64a()
	h.Write(d[:metaChecksumOffset])
	m.ok = m.magicOK && m.versionOK && h.Sum64() == ne.Uint64(d[metaChecksumOffset:])
	return m
}

// activeMeta returns the page size and the meta page bbolt will use.
func activeMeta(b []byte) (int, boltMeta, error) {
	var ps int
	if m := parseMeta(b, 0); m.ok {
		ps = int(m.pageSize)
	} else {
		// Like bbolt's getPageSizeFromSecondMeta: probe 1 KiB … 16 MiB.
		for i := 0; i <= 14; i++ {
			pos := 1024 << i
			if pos >= len(b)-1024 {
				break
			}
			if m := parseMeta(b, pos); m.ok {
				ps = int(m.pageSize)
				break
			}
		}
	}
	if ps == 0 {
		return 0, boltMeta{}, errors.New("no valid meta page")
	}
	if ps < 1024 || ps > 1<<24 || len(b) < 2*ps {
		return 0, boltMeta{}, fmt.Errorf("page size %d with file size %d", ps, len(b))
	}
	a, c := parseMeta(b, 0), parseMeta(b, ps)
	if c.txid > a.txid {
		a, c = c, a
	}
	switch {
	case a.ok:
	case c.ok:
		a = c
	default:
		return 0, boltMeta{}, errors.New("no valid meta page")
	}
	if int(a.pageSize) != ps {
		return 0, boltMeta{}, fmt.Errorf("meta page size %d, expected %d", a.pageSize, ps)
	}
	return ps, a, nil
}

type verifier struct {
	b    []byte
	ps   int
	hw   uint64 // pages below this ID are in use or free
	used []bool // pages reached so far, by the tree or the freelist
}

// page returns the bytes of page id including its overflow pages, and marks
// them used; a page reached twice is a cycle or a freelist overlap.
func (v *verifier) page(id uint64) ([]byte, error) {
	if id < 2 || id >= v.hw {
		return nil, fmt.Errorf("%w: page ID %d outside [2, %d)", errBadPage, id, v.hw)
	}
	off := int(id) * v.ps
	hdr := v.b[off : off+pageHeaderSize]
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("%w: page %d says it is page %d", errBadPage, id, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if overflow >= v.hw-id {
		return nil, fmt.Errorf("%w: page %d overflows %d pages past the end", errBadPage, id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if v.used[i] {
			return nil, fmt.Errorf("%w: page %d referenced twice", errBadPage, i)
		}
		v.used[i] = true
	}
	return v.b[off : off+int(overflow+1)*v.ps], nil
}

func (v *verifier) freelist(id uint64) error {
	p, err := v.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if ne.Uint16(p[8:]) != flagFreelist {
		return fmt.Errorf("freelist: %w: page %d is not a freelist page", errBadPage, id)
	}
	// internal/common/page.go FreelistPageCount: a count of 0xFFFF means the
	// real count is the first ID slot.
	ids := p[pageHeaderSize:]
	count := uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF {
		if len(ids) < 8 {
			return fmt.Errorf("freelist: %w", errBadPage)
		}
		count = ne.Uint64(ids)
		ids = ids[8:]
	}
	if count > uint64(len(ids)/8) {
		return fmt.Errorf("freelist: %w: %d IDs in %d bytes", errBadPage, count, len(ids))
	}
	for i := range int(count) {
		fid := ne.Uint64(ids[8*i:])
		if fid < 2 || fid >= v.hw {
			return fmt.Errorf("freelist: %w: free page %d outside [2, %d)", errBadPage, fid, v.hw)
		}
		if v.used[fid] {
			return fmt.Errorf("freelist: %w: page %d freed twice or in use", errBadPage, fid)
		}
		v.used[fid] = true
	}
	return nil
}

func (v *verifier) walkPage(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%w: tree deeper than %d", errBadPage, maxTreeDepth)
	}
	p, err := v.page(id)
	if err != nil {
		return err
	}
	return v.walkElems(p, id, depth)
}

// walkElems checks the elements of a branch or leaf page p (a real page, or
// an inline bucket's page inside a value) and descends into children.
func (v *verifier) walkElems(p []byte, id uint64, depth int) error {
	if len(p) < pageHeaderSize {
		return fmt.Errorf("%w: page %d shorter than its header", errBadPage, id)
	}
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	switch {
	case flags == flagBranch && count > 0, flags == flagLeaf:
	default:
		return fmt.Errorf("%w: page %d has flags %#x and %d elements", errBadPage, id, flags, count)
	}
	if pageHeaderSize+count*pageElemSize > len(p) {
		return fmt.Errorf("%w: page %d has %d elements in %d bytes", errBadPage, id, count, len(p))
	}
	var prev []byte
	for i := range count {
		e := pageHeaderSize + i*pageElemSize
		el := p[e : e+pageElemSize]
		var pos, ksize, vsize uint64
		if flags == flagBranch {
			pos, ksize = uint64(ne.Uint32(el)), uint64(ne.Uint32(el[4:]))
		} else {
			pos, ksize, vsize = uint64(ne.Uint32(el[4:])), uint64(ne.Uint32(el[8:])), uint64(ne.Uint32(el[12:]))
		}
		// Element positions are relative to the element itself.
		start := uint64(e) + pos
		if start+ksize+vsize > uint64(len(p)) {
			return fmt.Errorf("%w: page %d element %d points past the page", errBadPage, id, i)
		}
		key := p[start : start+ksize]
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			return fmt.Errorf("%w: page %d keys out of order", errBadPage, id)
		}
		prev = key
		if flags == flagBranch {
			if err := v.walkPage(ne.Uint64(el[8:]), depth+1); err != nil {
				return err
			}
			continue
		}
		if ne.Uint32(el)&flagBucketLeaf == 0 {
			continue
		}
		// A nested bucket: its header, then either a root page ID or, for
		// root 0, an inline page in the rest of the value.
		val := p[start+ksize : start+ksize+vsize]
		if len(val) < bucketHeaderSize {
			return fmt.Errorf("%w: page %d bucket header of %d bytes", errBadPage, id, len(val))
		}
		if depth+1 > maxTreeDepth {
			return fmt.Errorf("%w: tree deeper than %d", errBadPage, maxTreeDepth)
		}
		if root := ne.Uint64(val); root != 0 {
			if err := v.walkPage(root, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := val[bucketHeaderSize:]
		if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != flagLeaf {
			return fmt.Errorf("%w: page %d inline bucket is not a leaf", errBadPage, id)
		}
		if err := v.walkElems(inline, id, depth+1); err != nil {
			return err
		}
	}
	return nil
}
