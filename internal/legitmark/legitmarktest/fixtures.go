package legitmarktest

// Fixture taxonomy: two categories with different photo requirements, so
// that "requirements per category" is exercised. Footwear mirrors the SDK
// fixtures (seven required and five optional sides in one group); Handbags
// has two groups.

// Fixture UUIDs.
const (
	ServiceStandard = "5e000000-0000-4000-8000-000000000001"
	ServiceExpress  = "5e000000-0000-4000-8000-000000000002"

	CategoryFootwear = "ca000000-0000-4000-8000-000000000001"
	CategoryHandbags = "ca000000-0000-4000-8000-000000000002"
	CategoryRetired  = "ca000000-0000-4000-8000-000000000003" // inactive

	TypeSneakers = "7e000000-0000-4000-8000-000000000001"
	TypeBoots    = "7e000000-0000-4000-8000-000000000002"
	TypeTote     = "7e000000-0000-4000-8000-000000000003"

	BrandNike   = "b0000000-0000-4000-8000-000000000001"
	BrandAdidas = "b0000000-0000-4000-8000-000000000002"
	BrandLV     = "b0000000-0000-4000-8000-000000000003"

	ModelAirJordan1 = "30000000-0000-4000-8000-000000000001"
	ModelNeverfull  = "30000000-0000-4000-8000-000000000002"
)

type service struct{ uuid, name, desc string }

var services = []service{
	{ServiceStandard, "Standard Authentication", "Expert authentication within 24 hours"},
	{ServiceExpress, "Express Authentication", "Expert authentication within 1 hour"},
}

type brand struct{ uuid, name string }

type itemType struct {
	uuid, name string
	brands     []brand
}

type model struct{ uuid, name, brand, typ, category string }

type sideDef struct {
	uuid, name, desc string
	required         bool
}

type sideGroup struct {
	uuid, name, desc string
	sides            []sideDef
}

type category struct {
	uuid, name string
	active     bool
	types      []itemType
	groups     []sideGroup
}

var (
	nike   = brand{BrandNike, "Nike"}
	adidas = brand{BrandAdidas, "Adidas"}
	lv     = brand{BrandLV, "Louis Vuitton"}
)

func sd(n int, name, desc string, required bool) sideDef {
	return sideDef{uuid: "5d000000-0000-4000-8000-0000000000" + two(n), name: name, desc: desc, required: required}
}

func two(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

var categories = []category{
	{
		uuid: CategoryFootwear, name: "Footwear", active: true,
		types: []itemType{
			{TypeSneakers, "Sneakers", []brand{nike, adidas}},
			{TypeBoots, "Boots", []brand{nike}},
		},
		groups: []sideGroup{{
			uuid: "56000000-0000-4000-8000-000000000001", name: "Sneaker Photos", desc: "Photograph the pair on a plain background",
			sides: []sideDef{
				sd(1, "Front", "Both shoes from the front", true),
				sd(2, "Back", "Both heels from behind", true),
				sd(3, "Left Side", "Outer side of the left shoe", true),
				sd(4, "Right Side", "Outer side of the right shoe", true),
				sd(5, "Sole", "Both outsoles", true),
				sd(6, "Insole Label", "The size label inside the tongue", true),
				sd(7, "Box Label", "The label on the box", true),
				sd(8, "Size Tag", "Close-up of the size tag", false),
				sd(9, "Heel", "Close-up of the heel tab", false),
				sd(10, "Toe Box", "Close-up of the toe box", false),
				sd(11, "Receipt", "Proof of purchase", false),
				sd(12, "Other", "Anything else worth seeing", false),
			},
		}},
	},
	{
		uuid: CategoryHandbags, name: "Handbags", active: true,
		types: []itemType{{TypeTote, "Tote", []brand{lv}}},
		groups: []sideGroup{
			{uuid: "56000000-0000-4000-8000-000000000002", name: "Exterior", desc: "The whole bag", sides: []sideDef{
				sd(21, "Front", "The bag from the front", true),
				sd(22, "Back", "The bag from behind", true),
				sd(23, "Bottom", "The base of the bag", true),
			}},
			{uuid: "56000000-0000-4000-8000-000000000003", name: "Details", desc: "Close-ups", sides: []sideDef{
				sd(24, "Date Code", "The date code stamp", true),
				sd(25, "Hardware", "Zips and engravings", true),
				sd(26, "Interior", "Inside the bag", false),
				sd(27, "Receipt", "Proof of purchase", false),
			}},
		},
	},
	{uuid: CategoryRetired, name: "Watches (retired)", active: false},
}

var models = []model{
	{ModelAirJordan1, "Air Jordan 1", BrandNike, TypeSneakers, CategoryFootwear},
	{ModelNeverfull, "Neverfull", BrandLV, TypeTote, CategoryHandbags},
}

func findCategory(id string) *category {
	for i := range categories {
		if categories[i].uuid == id {
			return &categories[i]
		}
	}
	return nil
}

func findType(id string) (*itemType, *category) {
	for i := range categories {
		for j := range categories[i].types {
			if categories[i].types[j].uuid == id {
				return &categories[i].types[j], &categories[i]
			}
		}
	}
	return nil, nil
}

func findBrand(id string) *brand {
	for _, b := range []*brand{&nike, &adidas, &lv} {
		if b.uuid == id {
			return b
		}
	}
	return nil
}
