package ntag424

import (
	"errors"
	"fmt"
	"strconv"
)

// FileNo is the number of a file inside the NTAG 424 DNA application
// (NT4H2421Gx §8.2.2). It is also the file's short ISO FileID.
type FileNo byte

// The three StandardData files of the application (§8.2.2, Table 10).
const (
	FileCC          FileNo = 0x01 // Capability Container, E103h, 32 bytes
	FileNDEF        FileNo = 0x02 // NDEF file, E104h, 256 bytes
	FileProprietary FileNo = 0x03 // proprietary file, E105h, 128 bytes
)

// Access is one access condition of a file (§8.2.3.3): the number of the
// application key (0-4) that grants it, AccessFree or AccessNever.
type Access byte

// Access conditions other than a key number.
const (
	AccessFree  Access = 0xE // free access
	AccessNever Access = 0xF // no access
)

// maxKeyNo is the highest application key number (Table 63: 0h..4h).
const maxKeyNo = 4

// IsKey reports whether a is a key number 0-4.
func (a Access) IsKey() bool { return a <= maxKeyNo }

// MarshalText returns the String form, for JSON.
func (a Access) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// String returns "key N", "free" or "never".
func (a Access) String() string {
	switch {
	case a.IsKey():
		return "key " + strconv.Itoa(int(a))
	case a == AccessFree:
		return "free"
	case a == AccessNever:
		return "never"
	}
	return fmt.Sprintf("Access(%Xh)", byte(a))
}

// AccessRights are the four access conditions of a file (§8.2.3.3). On the
// wire they form a 16-bit value Read<<12 | Write<<8 | ReadWrite<<4 | Change,
// sent LSB first: ReadWrite||Change, then Read||Write (AN12196 Table 19
// sends 00 E0 for read free, the rest key 0).
type AccessRights struct {
	Read      Access `json:"read"`
	Write     Access `json:"write"`
	ReadWrite Access `json:"read_write"`
	Change    Access `json:"change"`
}

// Factory access rights (§8.2.2, Table 10; confirmed by GetFileSettings
// dumps of fresh tags).
var (
	// FactoryCCAccess: read free, write, read-write and change key 0.
	FactoryCCAccess = AccessRights{Read: AccessFree, Write: 0, ReadWrite: 0, Change: 0}
	// FactoryNDEFAccess: read, write and read-write free, change key 0.
	FactoryNDEFAccess = AccessRights{Read: AccessFree, Write: AccessFree, ReadWrite: AccessFree, Change: 0}
	// FactoryProprietaryAccess: read key 2, write and read-write key 3,
	// change key 0.
	FactoryProprietaryAccess = AccessRights{Read: 2, Write: 3, ReadWrite: 3, Change: 0}
)

func (r AccessRights) bytes() [2]byte {
	return [2]byte{byte(r.ReadWrite)<<4 | byte(r.Change), byte(r.Read)<<4 | byte(r.Write)}
}

func parseAccessRights(b []byte) AccessRights {
	return AccessRights{Read: Access(b[1] >> 4), Write: Access(b[1] & 0xF), ReadWrite: Access(b[0] >> 4), Change: Access(b[0] & 0xF)}
}

// valid reports whether every condition is a key, free or never.
func (r AccessRights) valid() bool {
	for _, a := range [...]Access{r.Read, r.Write, r.ReadWrite, r.Change} {
		if !a.IsKey() && a != AccessFree && a != AccessNever {
			return false
		}
	}
	return true
}

// SDMSettings are the Secure Dynamic Messaging options of the NDEF file
// (ChangeFileSettings §10.7.1, Table 69). Offsets count bytes from the
// start of the file; which of them are present on the wire depends on the
// options and access rights, and the others are ignored.
type SDMSettings struct {
	// SDMOptions (the ASCII encoding bit is always set: NT4H2421Gx
	// supports nothing else).
	UID          bool `json:"uid"`            // bit 7: mirror the UID
	ReadCtr      bool `json:"read_ctr"`       // bit 6: SDMReadCtr enabled
	ReadCtrLimit bool `json:"read_ctr_limit"` // bit 5: SDMReadCtrLimit enabled
	ENCFileData  bool `json:"enc_file_data"`  // bit 4: SDMENCFileData mirrored

	// SDMAccessRights.
	MetaRead Access `json:"meta_read"` // key 0-4: encrypted PICCData; free: plain UID/counter; never: none
	FileRead Access `json:"file_read"` // key 0-4: SDMMAC (and SDMENCFileData); never: no SDM for reading
	CtrRet   Access `json:"ctr_ret"`   // GetFileCounters: key 0-4, free or never

	UIDOffset         uint32 `json:"uid_offset,omitempty"`           // plain UID mirror (MetaRead free, UID)
	ReadCtrOffset     uint32 `json:"read_ctr_offset,omitempty"`      // plain counter mirror (MetaRead free, ReadCtr); FFFFFFh: not mirrored
	PICCDataOffset    uint32 `json:"picc_data_offset,omitempty"`     // encrypted PICCData (MetaRead a key)
	MACInputOffset    uint32 `json:"mac_input_offset,omitempty"`     // start of the SDMMAC input (FileRead a key)
	ENCOffset         uint32 `json:"enc_offset,omitempty"`           // SDMENCFileData placeholder (FileRead a key, ENCFileData)
	ENCLength         uint32 `json:"enc_length,omitempty"`           // its length in ASCII characters, a multiple of 32
	MACOffset         uint32 `json:"mac_offset,omitempty"`           // SDMMAC placeholder, 16 characters (FileRead a key)
	ReadCtrLimitValue uint32 `json:"read_ctr_limit_value,omitempty"` // SDMReadCtrLimit (ReadCtrLimit)
}

// NoCtrMirror is the SDMReadCtrOffset that enables the counter without
// mirroring it (Table 69).
const NoCtrMirror = 0xFFFFFF

// SDMOptions bits (Table 69).
const (
	sdmOptUID      = 0x80
	sdmOptReadCtr  = 0x40
	sdmOptCtrLimit = 0x20
	sdmOptENC      = 0x10
	sdmOptASCII    = 0x01
	sdmOptRFU      = 0x0E
)

// FileOption bits (Table 69): bit 6 enables SDM, bits 1-0 are the
// CommMode, the rest is RFU.
const (
	fileOptSDM  = 0x40
	fileOptComm = 0x03
	fileOptRFU  = 0xBC
)

// commBits maps a CommMode to FileOption bits 1-0 (§8.2.3.5: 00b plain,
// 01b MAC, 11b full).
func commBits(m CommMode) byte {
	switch m {
	case CommMAC:
		return 0x01
	case CommFull:
		return 0x03
	}
	return 0x00
}

func commFromBits(b byte) (CommMode, bool) {
	switch b & fileOptComm {
	case 0x00:
		return CommPlain, true
	case 0x01:
		return CommMAC, true
	case 0x03:
		return CommFull, true
	}
	return 0, false // 10b is not a mode
}

// FileSettings are the settings of one StandardData file: what
// GetFileSettings returns (§10.7.2) and ChangeFileSettings sets (§10.7.1).
type FileSettings struct {
	CommMode CommMode     `json:"comm_mode"`
	Access   AccessRights `json:"access"`
	// Size is the file size (GetFileSettings only; ChangeFileSettings
	// cannot change it).
	Size uint32 `json:"size,omitempty"`
	// SDM is nil when Secure Dynamic Messaging is disabled.
	SDM *SDMSettings `json:"sdm,omitempty"`
}

// FactoryFileSettings returns the settings of file f on a tag as
// delivered (§8.2.2), or nil for an unknown file.
func FactoryFileSettings(f FileNo) *FileSettings {
	switch f {
	case FileCC:
		return &FileSettings{CommMode: CommPlain, Access: FactoryCCAccess, Size: 32}
	case FileNDEF:
		return &FileSettings{CommMode: CommPlain, Access: FactoryNDEFAccess, Size: 256}
	case FileProprietary:
		return &FileSettings{CommMode: CommFull, Access: FactoryProprietaryAccess, Size: 128}
	}
	return nil
}

// fileTypeStandard is the only FileType of an NTAG 424 DNA (Table 73).
const fileTypeStandard = 0x00

// ErrFileSettings reports file settings that cannot be encoded, or a
// GetFileSettings response that cannot be decoded. Errors wrapping it say
// which field is wrong.
var ErrFileSettings = errors.New("ntag424: invalid file settings")

func fsErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFileSettings, fmt.Sprintf(format, args...))
}

// AppendChangeData appends the CmdData of ChangeFileSettings for fs:
// FileOption || AccessRights || [SDMOptions || SDMAccessRights || offsets],
// the offsets present as Table 69 says, 3 bytes LSB first each.
func (fs *FileSettings) AppendChangeData(b []byte) ([]byte, error) {
	if !fs.Access.valid() {
		return nil, fsErr("access condition out of range")
	}
	opt := commBits(fs.CommMode)
	if fs.SDM != nil {
		opt |= fileOptSDM
	}
	ar := fs.Access.bytes()
	b = append(b, opt, ar[0], ar[1])
	if fs.SDM == nil {
		return b, nil
	}
	return fs.SDM.append(b)
}

func (s *SDMSettings) options() byte {
	o := byte(sdmOptASCII)
	if s.UID {
		o |= sdmOptUID
	}
	if s.ReadCtr {
		o |= sdmOptReadCtr
	}
	if s.ReadCtrLimit {
		o |= sdmOptCtrLimit
	}
	if s.ENCFileData {
		o |= sdmOptENC
	}
	return o
}

func (s *SDMSettings) append(b []byte) ([]byte, error) {
	for _, a := range [...]Access{s.MetaRead, s.FileRead, s.CtrRet} {
		if !a.IsKey() && a != AccessFree && a != AccessNever {
			return nil, fsErr("SDM access condition out of range")
		}
	}
	// SDMAccessRights: MetaRead<<12 | FileRead<<8 | F<<4 | CtrRet, LSB first.
	b = append(b, s.options(), 0xF0|byte(s.CtrRet), byte(s.MetaRead)<<4|byte(s.FileRead))
	off := func(v uint32) {
		b = append(b, byte(v), byte(v>>8), byte(v>>16))
	}
	for _, f := range s.fields() {
		if *f.v > 0xFFFFFF {
			return nil, fsErr("%s %d does not fit in 3 bytes", f.name, *f.v)
		}
		off(*f.v)
	}
	return b, nil
}

// sdmField is one optional 3-byte field of the SDM settings.
type sdmField struct {
	name string
	v    *uint32
}

// fields returns the offsets present on the wire, in wire order (Table 69).
func (s *SDMSettings) fields() []sdmField {
	var fs []sdmField
	if s.MetaRead == AccessFree {
		if s.UID {
			fs = append(fs, sdmField{"UIDOffset", &s.UIDOffset})
		}
		if s.ReadCtr {
			fs = append(fs, sdmField{"SDMReadCtrOffset", &s.ReadCtrOffset})
		}
	}
	if s.MetaRead.IsKey() {
		fs = append(fs, sdmField{"PICCDataOffset", &s.PICCDataOffset})
	}
	if s.FileRead != AccessNever {
		fs = append(fs, sdmField{"SDMMACInputOffset", &s.MACInputOffset})
		if s.ENCFileData {
			fs = append(fs, sdmField{"SDMENCOffset", &s.ENCOffset}, sdmField{"SDMENCLength", &s.ENCLength})
		}
		fs = append(fs, sdmField{"SDMMACOffset", &s.MACOffset})
	}
	if s.ReadCtrLimit {
		fs = append(fs, sdmField{"SDMReadCtrLimit", &s.ReadCtrLimitValue})
	}
	return fs
}

// ParseChangeData decodes the CmdData of ChangeFileSettings (Table 69), as
// the tag does. The result has no Size. Any byte left over, a missing
// field, an RFU bit or a reserved CommMode wraps ErrFileSettings.
func ParseChangeData(b []byte) (*FileSettings, error) {
	if len(b) < 3 {
		return nil, fsErr("%d bytes, want at least 3", len(b))
	}
	fs, rest, err := parseSettings(b[0], b[1:3], b[3:])
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fsErr("%d bytes left over", len(rest))
	}
	return fs, nil
}

// ParseFileSettings decodes the response data of GetFileSettings (Table
// 73): FileType || FileOption || AccessRights || FileSize || [SDM ...].
// Errors wrap ErrFileSettings and say which field is wrong.
func ParseFileSettings(b []byte) (*FileSettings, error) {
	if len(b) < 7 {
		return nil, fsErr("%d bytes, want at least 7", len(b))
	}
	if b[0] != fileTypeStandard {
		return nil, fsErr("FileType %02Xh is not StandardData", b[0])
	}
	fs, rest, err := parseSettings(b[1], b[2:4], b[7:])
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fsErr("%d bytes left over", len(rest))
	}
	fs.Size = uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16
	return fs, nil
}

// AppendBinary appends fs as GetFileSettings returns it (Table 73), the
// inverse of ParseFileSettings.
func (fs *FileSettings) AppendBinary(b []byte) ([]byte, error) {
	if fs.Size > 0xFFFFFF {
		return nil, fsErr("file size %d does not fit in 3 bytes", fs.Size)
	}
	c, err := fs.AppendChangeData(nil)
	if err != nil {
		return nil, err
	}
	b = append(b, fileTypeStandard)
	b = append(b, c[:3]...)
	b = append(b, byte(fs.Size), byte(fs.Size>>8), byte(fs.Size>>16))
	return append(b, c[3:]...), nil
}

func parseSettings(opt byte, ar, rest []byte) (*FileSettings, []byte, error) {
	if opt&fileOptRFU != 0 {
		return nil, nil, fsErr("FileOption %02Xh has RFU bits set", opt)
	}
	mode, ok := commFromBits(opt)
	if !ok {
		return nil, nil, fsErr("FileOption %02Xh has the reserved CommMode 10b", opt)
	}
	fs := &FileSettings{CommMode: mode, Access: parseAccessRights(ar)}
	if !fs.Access.valid() {
		return nil, nil, fsErr("access condition out of range")
	}
	if opt&fileOptSDM == 0 {
		return fs, rest, nil
	}
	if len(rest) < 3 {
		return nil, nil, fsErr("SDM enabled but SDMOptions and SDMAccessRights missing")
	}
	o := rest[0]
	if o&sdmOptRFU != 0 || o&sdmOptASCII == 0 {
		return nil, nil, fsErr("SDMOptions %02Xh: RFU bits set or ASCII encoding off", o)
	}
	if rest[1]&0xF0 != 0xF0 {
		return nil, nil, fsErr("SDMAccessRights RFU nibble %Xh, want Fh", rest[1]>>4)
	}
	s := &SDMSettings{
		UID:          o&sdmOptUID != 0,
		ReadCtr:      o&sdmOptReadCtr != 0,
		ReadCtrLimit: o&sdmOptCtrLimit != 0,
		ENCFileData:  o&sdmOptENC != 0,
		CtrRet:       Access(rest[1] & 0xF),
		MetaRead:     Access(rest[2] >> 4),
		FileRead:     Access(rest[2] & 0xF),
	}
	for _, a := range [...]Access{s.MetaRead, s.FileRead, s.CtrRet} {
		if !a.IsKey() && a != AccessFree && a != AccessNever {
			return nil, nil, fsErr("SDM access condition out of range")
		}
	}
	rest = rest[3:]
	for _, f := range s.fields() {
		if len(rest) < 3 {
			return nil, nil, fsErr("%s missing", f.name)
		}
		*f.v = uint32(rest[0]) | uint32(rest[1])<<8 | uint32(rest[2])<<16
		rest = rest[3:]
	}
	fs.SDM = s
	return fs, rest, nil
}

// Lengths of the mirrored items in ASCII (§9.3.3-§9.3.7).
const (
	uidMirrorLen     = 2 * UIDLen // 14
	ctrMirrorLen     = 6
	piccDataLenAES   = 32
	piccDataLenLRP   = 48
	macMirrorLen     = 16
	encLengthQuantum = 32
)

// PICCDataLength returns the length of the encrypted PICCData mirror in
// ASCII characters: 32 in AES mode, 48 in LRP mode (§9.3.4).
func PICCDataLength(c Crypto) uint32 {
	if c == CryptoLRP {
		return piccDataLenLRP
	}
	return piccDataLenAES
}

// Check applies the rules the tag applies to ChangeFileSettings of the
// NDEF file (Table 71 PARAMETER_ERROR, §9.3.3-§9.3.7) for a file of size
// bytes on a tag in crypto mode c: which options need which, that every
// mirror lies inside the file and that no two mirrors overlap. It returns
// nil or an error wrapping ErrFileSettings that names the rule.
func (s *SDMSettings) Check(size uint32, c Crypto) error {
	valid := func(a Access, free bool) bool { return a.IsKey() || a == AccessNever || free && a == AccessFree }
	switch {
	case !valid(s.MetaRead, true), !valid(s.FileRead, false), !valid(s.CtrRet, true):
		return fsErr("SDM access condition out of range")
	case s.MetaRead != AccessNever && !s.UID && !s.ReadCtr:
		return fsErr("SDMMetaRead set while neither UID nor SDMReadCtr is mirrored")
	case s.MetaRead == AccessNever && s.UID:
		return fsErr("UID mirroring needs SDMMetaRead")
	case s.CtrRet != AccessNever && !s.ReadCtr:
		return fsErr("SDMCtrRet set while SDMReadCtr is disabled")
	case s.ENCFileData && s.FileRead == AccessNever:
		return fsErr("SDMENCFileData needs SDMFileRead")
	case s.ENCFileData && !(s.UID && s.ReadCtr):
		return fsErr("SDMENCFileData needs both UID and SDMReadCtr mirrored")
	case s.ReadCtrLimit && !s.ReadCtr:
		return fsErr("SDMReadCtrLimit needs SDMReadCtr")
	}
	type span struct {
		name     string
		off, len uint32
	}
	var spans []span
	in := func(name string, off, n uint32) error {
		if uint64(off)+uint64(n) > uint64(size) {
			return fsErr("%s %d + %d runs past the %d-byte file", name, off, n, size)
		}
		spans = append(spans, span{name, off, n})
		return nil
	}
	if s.MetaRead == AccessFree {
		if s.UID {
			if err := in("UIDOffset", s.UIDOffset, uidMirrorLen); err != nil {
				return err
			}
		}
		if s.ReadCtr && s.ReadCtrOffset != NoCtrMirror {
			if err := in("SDMReadCtrOffset", s.ReadCtrOffset, ctrMirrorLen); err != nil {
				return err
			}
		}
	}
	if s.MetaRead.IsKey() {
		if err := in("PICCDataOffset", s.PICCDataOffset, PICCDataLength(c)); err != nil {
			return err
		}
	}
	if s.FileRead.IsKey() {
		if s.MACInputOffset > s.MACOffset {
			return fsErr("SDMMACInputOffset %d is after SDMMACOffset %d", s.MACInputOffset, s.MACOffset)
		}
		if s.ENCFileData {
			switch {
			case s.ENCLength < encLengthQuantum || s.ENCLength%encLengthQuantum != 0:
				return fsErr("SDMENCLength %d is not a positive multiple of 32", s.ENCLength)
			case s.ENCOffset < s.MACInputOffset:
				return fsErr("SDMENCOffset %d is before SDMMACInputOffset %d: the MAC would not cover it", s.ENCOffset, s.MACInputOffset)
			case uint64(s.ENCOffset)+uint64(s.ENCLength) > uint64(s.MACOffset):
				return fsErr("SDMENCFileData runs into SDMMACOffset %d", s.MACOffset)
			}
			if err := in("SDMENCOffset", s.ENCOffset, s.ENCLength); err != nil {
				return err
			}
		}
		if err := in("SDMMACOffset", s.MACOffset, macMirrorLen); err != nil {
			return err
		}
	}
	for i := range spans {
		for j := i + 1; j < len(spans); j++ {
			a, b := spans[i], spans[j]
			if a.off < b.off+b.len && b.off < a.off+a.len {
				return fsErr("%s and %s overlap", a.name, b.name)
			}
		}
	}
	return nil
}
