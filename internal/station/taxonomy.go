package station

import (
	"context"
	"fmt"
	"strings"

	"github.com/nfcd/nfcd/internal/legitmark"
)

// Taxonomy is what the station offers for a new SR: the services and the
// active categories (nested ones flattened, their names joined with " › "),
// each with its types and their brands.
type Taxonomy struct {
	Services   []Named    `json:"services"`
	Categories []Category `json:"categories"`
}

// Named is a taxonomy entry.
type Named struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
}

// Category is a category with its types.
type Category struct {
	Named
	Types []Type `json:"types"`
}

// Type is a type with its brands.
type Type struct {
	Named
	Brands []Named `json:"brands"`
}

// LoadTaxonomy reads the services and the category tree, filling in types
// and brands the tree leaves out.
func LoadTaxonomy(ctx context.Context, c *legitmark.Client) (*Taxonomy, error) {
	svcs, err := c.Services(ctx)
	if err != nil {
		return nil, err
	}
	tree, err := c.CategoryTree(ctx, true)
	if err != nil {
		return nil, err
	}
	t := &Taxonomy{Services: []Named{}, Categories: []Category{}}
	for _, sv := range svcs {
		if sv.Active == nil || *sv.Active {
			t.Services = append(t.Services, Named{sv.UUID, sv.Name})
		}
	}
	var walk func(cs []legitmark.Category, prefix string) error
	walk = func(cs []legitmark.Category, prefix string) error {
		for _, cat := range cs {
			if cat.Active != nil && !*cat.Active {
				continue
			}
			name := prefix + cat.Name
			types := cat.Types
			if len(types) == 0 && len(cat.Children) == 0 {
				if types, err = c.CategoryTypes(ctx, cat.UUID); err != nil {
					return err
				}
			}
			out := Category{Named: Named{cat.UUID, name}, Types: []Type{}}
			for _, ty := range types {
				if ty.Active != nil && !*ty.Active {
					continue
				}
				brands := ty.Brands
				if len(brands) == 0 {
					if brands, err = c.BrandsForType(ctx, ty.UUID); err != nil {
						return err
					}
				}
				tv := Type{Named: Named{ty.UUID, ty.Name}, Brands: []Named{}}
				for _, b := range brands {
					if b.Active == nil || *b.Active {
						tv.Brands = append(tv.Brands, Named{b.UUID, b.Name})
					}
				}
				out.Types = append(out.Types, tv)
			}
			if len(out.Types) > 0 {
				t.Categories = append(t.Categories, out)
			}
			if err := walk(cat.Children, name+" › "); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(tree, ""); err != nil {
		return nil, err
	}
	return t, nil
}

// Choice is a resolved taxonomy choice.
type Choice struct {
	Category, Type, Brand string // UUIDs; Brand may be ""
}

// Resolve finds a category, a type of it and optionally a brand of that
// type, each by UUID or by name (case-insensitive; for a nested category
// its last name part also matches).
func (t *Taxonomy) Resolve(category, typ, brand string) (Choice, error) {
	var ch Choice
	var cat *Category
	for i := range t.Categories {
		c := &t.Categories[i]
		last := c.Name
		if i := strings.LastIndex(last, " › "); i >= 0 {
			last = last[i+len(" › "):]
		}
		if c.UUID == category || strings.EqualFold(c.Name, category) || strings.EqualFold(last, category) {
			cat = c
			break
		}
	}
	if cat == nil {
		return ch, fmt.Errorf("no category %q (categories: %s)", category, names(t.Categories, func(c Category) string { return c.Name }))
	}
	var ty *Type
	for i := range cat.Types {
		if x := &cat.Types[i]; x.UUID == typ || strings.EqualFold(x.Name, typ) {
			ty = x
			break
		}
	}
	if ty == nil {
		return ch, fmt.Errorf("no type %q in %s (types: %s)", typ, cat.Name, names(cat.Types, func(t Type) string { return t.Name }))
	}
	ch.Category, ch.Type = cat.UUID, ty.UUID
	if brand == "" {
		return ch, nil
	}
	for _, b := range ty.Brands {
		if b.UUID == brand || strings.EqualFold(b.Name, brand) {
			ch.Brand = b.UUID
			return ch, nil
		}
	}
	return ch, fmt.Errorf("no brand %q for %s (brands: %s)", brand, ty.Name, names(ty.Brands, func(b Named) string { return b.Name }))
}

func names[T any](xs []T, name func(T) string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return strings.Join(out, ", ")
}
