package directory

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// formatGUID renders an AD objectGUID (16 bytes; the first three fields
// little-endian) as the standard lower-case GUID string.
func formatGUID(b []byte) string {
	var out [36]byte
	var swapped [16]byte
	binary.BigEndian.PutUint32(swapped[0:4], binary.LittleEndian.Uint32(b[0:4]))
	binary.BigEndian.PutUint16(swapped[4:6], binary.LittleEndian.Uint16(b[4:6]))
	binary.BigEndian.PutUint16(swapped[6:8], binary.LittleEndian.Uint16(b[6:8]))
	copy(swapped[8:], b[8:16])
	hex.Encode(out[0:8], swapped[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], swapped[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], swapped[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], swapped[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], swapped[10:16])
	return string(out[:])
}

// parseGUID is the inverse of formatGUID: it returns the 16 wire bytes.
func parseGUID(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	if len(h) != 32 {
		return nil, fmt.Errorf("not a GUID: %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("not a GUID: %q", s)
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(b[8:], raw[8:])
	return b, nil
}

// escapeFilterBytes escapes every byte, for binary assertion values.
func escapeFilterBytes(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) * 3)
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%02x", c)
	}
	return sb.String()
}
