package deid

import "sort"

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
	i := sort.Search(len(profileRows), func(i int) bool { return profileRows[i].tag >= tag })
	if i < len(profileRows) && profileRows[i].tag == tag {
		return profileRows[i], true
	}
	return rule{}, false
}

// vrFor returns the dictionary VR of a public tag, 0 when unknown.
func vrFor(tag uint32) uint16 {
	find := func(t uint32, masked bool) uint16 {
		i := sort.Search(len(dictionary), func(i int) bool { return dictionary[i].tag >= t })
		if i < len(dictionary) && dictionary[i].tag == t && dictionary[i].masked == masked {
			return dictionary[i].vr
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
