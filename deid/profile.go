package deid

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:generate go run gen.go -edition 2024b -commit 8670abdd9ad16c61af5146ef857899699bdd9c5f -profile ${DEID_TABLES}/confidentiality_profile_attributes.json -dict ${DEID_TABLES}/attributes.json

// act is an action code of Table E.1-1.
type act uint8

const (
	none   act = iota // no entry in the column
	actX              // remove
	actZ              // empty
	actD              // dummy value
	actK              // keep
	actC              // clean
	actU              // replace UIDs
	actXZ             // X, or Z when the attribute's type needs it
	actXD             // X, or D
	actZD             // Z, or D
	actXZD            // X, Z or D
	actXZU            // X, Z, or replace the UIDs inside (sequences)
)

// rule is one row of Table E.1-1.
type rule struct {
	tag, mask                              uint32
	basic, modDates, patChars, devID, desc act
}

// entry is one attribute of the dictionary.
type entry struct {
	tag    uint32
	masked bool // a repeating group (50xx, 60xx, 7Fxx) listed under xx = 00
	vr     uint16
}

// tables are the embedded profile and dictionary, parsed on first use.
type tables struct {
	rules []rule  // by tag
	dict  []entry // by tag
}

var loadTables = sync.OnceValue(func() tables {
	t, err := parseTables(profileTSV, dictionaryTSV)
	if err != nil {
		panic(err) // the embedded files are part of the build; TestTables checks them
	}
	return t
})

var actCodes = map[string]act{"": none, "X": actX, "Z": actZ, "D": actD, "K": actK, "C": actC, "U": actU,
	"X/Z": actXZ, "X/D": actXD, "Z/D": actZD, "X/Z/D": actXZD, "X/Z/U*": actXZU}

// parseTables reads profile.tsv and dictionary.tsv (see gen.go).
func parseTables(profile, dictionary string) (tables, error) {
	var t tables
	hex := func(s string) (uint32, error) {
		v, err := strconv.ParseUint(s, 16, 32)
		return uint32(v), err
	}
	for i, line := range strings.Split(profile, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			return t, fmt.Errorf("deid: profile.tsv line %d: %d fields", i+1, len(f))
		}
		var r rule
		var err1, err2 error
		r.tag, err1 = hex(f[0])
		r.mask, err2 = hex(f[1])
		acts := []*act{&r.basic, &r.modDates, &r.patChars, &r.devID, &r.desc}
		for j, a := range acts {
			v, ok := actCodes[f[2+j]]
			if !ok {
				return t, fmt.Errorf("deid: profile.tsv line %d: action %q", i+1, f[2+j])
			}
			*a = v
		}
		if err1 != nil || err2 != nil || len(t.rules) > 0 && t.rules[len(t.rules)-1].tag >= r.tag {
			return t, fmt.Errorf("deid: profile.tsv line %d: bad or unsorted tag", i+1)
		}
		t.rules = append(t.rules, r)
	}
	for i, line := range strings.Split(dictionary, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		tag, vr, ok := strings.Cut(line, "\t")
		masked := strings.HasSuffix(tag, "x")
		v, err := hex(strings.TrimSuffix(tag, "x"))
		if !ok || err != nil || len(vr) != 2 || len(t.dict) > 0 && t.dict[len(t.dict)-1].tag >= v {
			return t, fmt.Errorf("deid: dictionary.tsv line %d: %q", i+1, line)
		}
		t.dict = append(t.dict, entry{tag: v, masked: masked, vr: uint16(vr[0])<<8 | uint16(vr[1])})
	}
	return t, nil
}

// ruleFor returns the row of Table E.1-1 for a public tag, if any.
func ruleFor(tag uint32) (rule, bool) {
	if r, ok := findRule(tag); ok {
		return r, true
	}
	if g := tag >> 24; g == 0x50 || g == 0x60 {
		if r, ok := findRule(tag &^ 0x00FF0000); ok && r.mask != 0xFFFFFFFF {
			return r, true
		}
		if g == 0x50 {
			if r, ok := findRule(0x50000000); ok && r.mask == 0xFF000000 {
				return r, true // (50xx,xxxx) curve data
			}
		}
	}
	return rule{}, false
}

func findRule(tag uint32) (rule, bool) {
	rows := loadTables().rules
	i := sort.Search(len(rows), func(i int) bool { return rows[i].tag >= tag })
	if i < len(rows) && rows[i].tag == tag {
		return rows[i], true
	}
	return rule{}, false
}

// vrFor returns the dictionary VR of a public tag, 0 when unknown.
func vrFor(tag uint32) uint16 {
	dict := loadTables().dict
	find := func(t uint32, masked bool) uint16 {
		i := sort.Search(len(dict), func(i int) bool { return dict[i].tag >= t })
		if i < len(dict) && dict[i].tag == t && dict[i].masked == masked {
			return dict[i].vr
		}
		return 0
	}
	if vr := find(tag, false); vr != 0 {
		return vr
	}
	if g := tag >> 24; g == 0x50 || g == 0x60 || g == 0x7F {
		return find(tag&^0x00FF0000, true)
	}
	return 0
}

// applied is the Action reported for an act the run applied.
func (a act) applied() Action {
	switch a {
	case actX:
		return Remove
	case actZ:
		return Empty
	case actD:
		return Dummy
	case actC:
		return Clean
	}
	return Replace
}
