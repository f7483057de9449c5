package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/templates/pages"
)

func (s *Server) productPolicy() products.URLPolicy {
	return products.URLPolicy{AllowLoopback: s.cfg.AllowLoopbackProducts}
}

// showProductsPage lists products with their pending / failed counts.
func (s *Server) showProductsPage(c echo.Context) error {
	ctx := c.Request().Context()
	ps, err := s.store.ListProducts(ctx)
	if err != nil {
		return err
	}
	v := pages.ProductsView{CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	for _, p := range ps {
		cnt, err := s.store.ProductCounts(ctx, p.ID)
		if err != nil {
			return err
		}
		v.Rows = append(v.Rows, pages.ProductRow{P: p, Counts: cnt})
	}
	return s.render(c, http.StatusOK, pages.ProductsPage(v))
}

// productForm fills the choices around f (service groups, attributes,
// mapping rows with blanks to add more).
func (s *Server) productForm(ctx context.Context, f pages.ProductForm) (pages.ProductForm, error) {
	var err error
	if f.Groups, _, err = s.store.ListServiceGroups(ctx, model.ListQuery{PerPage: 500}); err != nil {
		return f, err
	}
	if f.AttrDefs, err = s.store.ListAttributes(ctx); err != nil {
		return f, err
	}
	if f.Mappings == nil {
		keys := make([]string, 0, len(f.P.AttributeMap))
		for k := range f.P.AttributeMap {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f.Mappings = append(f.Mappings, pages.MappingRow{Attr: k, Field: f.P.AttributeMap[k]})
		}
	}
	for range 3 {
		f.Mappings = append(f.Mappings, pages.MappingRow{})
	}
	return f, nil
}

func (s *Server) showNewProductPage(c echo.Context) error {
	f, err := s.productForm(c.Request().Context(), pages.ProductForm{P: model.Product{
		Kind: model.ProductSCIM, AllUsers: true, Enabled: true, MaxConcurrency: 4,
		AttributeMap: map[string]string{model.AttrCostCenter: "costCenter", model.AttrDepartment: "department"},
	}})
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "New product", pages.ProductEditPage(f, s.csrfToken(c)))
}

// productFromForm reads the form into p and returns per-field problems,
// including the URL policy (no link-local, metadata or, unless allowed,
// loopback addresses).
func (s *Server) productFromForm(c echo.Context, p *model.Product, defs []model.AttributeDef) (map[string]string, []pages.MappingRow) {
	bad := map[string]string{}
	if err := c.Request().ParseForm(); err != nil {
		bad["name"] = "the form could not be read"
		return bad, nil
	}
	form := c.Request().PostForm
	p.Name = strings.TrimSpace(form.Get("name"))
	p.Kind = model.ProductKind(form.Get("kind"))
	p.BaseURL = strings.TrimSpace(form.Get("base_url"))
	p.Secret = form.Get("secret")
	p.AllUsers = form.Get("all_users") == "on"
	p.Enabled = form.Get("enabled") == "on"
	p.ServiceGroupIDs = nil
	for _, v := range form["service_group_id"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			bad["service_group_ids"] = "a chosen service group does not exist"
			continue
		}
		p.ServiceGroupIDs = append(p.ServiceGroupIDs, id)
	}
	p.UpdateMode = model.UpdateMode(form.Get("update_mode"))
	for name, dst := range map[string]*int{"max_concurrency": &p.MaxConcurrency, "rate_per_second": &p.RatePerSecond, "max_attempts": &p.MaxAttempts} {
		v := strings.TrimSpace(form.Get(name))
		if v == "" && name == "max_attempts" {
			continue // not in the form: the default
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			bad[name] = "must be a whole number"
			continue
		}
		*dst = n
	}
	attrs, fields := form["map_attr"], form["map_field"]
	p.AttributeMap = map[string]string{}
	var rows []pages.MappingRow
	usedField := map[string]bool{}
	for i := range attrs {
		a, f := strings.TrimSpace(attrs[i]), ""
		if i < len(fields) {
			f = strings.TrimSpace(fields[i])
		}
		if a == "" && f == "" {
			continue
		}
		rows = append(rows, pages.MappingRow{Attr: a, Field: f})
		switch {
		case a == "" || f == "":
			bad["attribute_map"] = "each mapping row needs an attribute and a SCIM field"
		case !slices.ContainsFunc(defs, func(d model.AttributeDef) bool { return d.Key == a }):
			bad["attribute_map"] = "unknown enterprise attribute " + a
		case !products.ValidSCIMField(f):
			bad["attribute_map"] = "unknown SCIM field " + f
		case usedField[f]:
			bad["attribute_map"] = "SCIM field " + f + " is mapped twice"
		case p.AttributeMap[a] != "":
			bad["attribute_map"] = "attribute " + a + " is mapped twice"
		default:
			usedField[f] = true
			p.AttributeMap[a] = f
		}
	}
	if _, ok := bad["base_url"]; !ok {
		if err := s.productPolicy().CheckURL(c.Request().Context(), p.BaseURL); err != nil {
			for k, v := range model.ErrorFields(err) {
				bad[k] = v
			}
		}
	}
	return bad, rows
}

func (s *Server) createProduct(c echo.Context) error {
	ctx := c.Request().Context()
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	var p model.Product
	bad, rows := s.productFromForm(c, &p, defs)
	err = model.Invalid(bad)
	if err == nil {
		err = s.store.CreateProduct(ctx, &p)
	}
	if err != nil {
		return s.productFormFailed(c, err, p, rows, false)
	}
	if err := s.flash(c, "Product "+p.Name+" created."); err != nil {
		return err
	}
	return redirect(c, "/products/"+strconv.FormatInt(p.ID, 10))
}

// productFormFailed re-renders the form with the typed values (never the
// typed secret) and the errors.
func (s *Server) productFormFailed(c echo.Context, err error, p model.Product, rows []pages.MappingRow, hasSecret bool) error {
	fields, msg, err := objFormError(err)
	if err != nil {
		return err
	}
	p.Secret = ""
	if rows == nil {
		rows = []pages.MappingRow{}
	}
	f, err := s.productForm(c.Request().Context(), pages.ProductForm{P: p, HasSecret: hasSecret, Mappings: rows, Errors: fields, Message: msg})
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusUnprocessableEntity, "Product", pages.ProductEditPage(f, s.csrfToken(c)))
}

func (s *Server) loadProduct(c echo.Context) (*model.Product, error) {
	id, err := objParseID(c, "id")
	if err != nil {
		return nil, err
	}
	return s.store.GetProduct(c.Request().Context(), id)
}

func (s *Server) showEditProductPage(c echo.Context) error {
	p, err := s.loadProduct(c)
	if err != nil {
		return err
	}
	has := p.Secret != ""
	p.Secret = ""
	f, err := s.productForm(c.Request().Context(), pages.ProductForm{P: *p, HasSecret: has})
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "Edit "+p.Name, pages.ProductEditPage(f, s.csrfToken(c)))
}

func (s *Server) updateProduct(c echo.Context) error {
	ctx := c.Request().Context()
	old, err := s.loadProduct(c)
	if err != nil {
		return err
	}
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	p := model.Product{ID: old.ID}
	bad, rows := s.productFromForm(c, &p, defs)
	err = model.Invalid(bad)
	if err == nil {
		err = s.store.UpdateProduct(ctx, &p) // empty secret keeps the stored one
	}
	if err != nil {
		return s.productFormFailed(c, err, p, rows, old.Secret != "")
	}
	if err := s.flash(c, "Product "+p.Name+" saved."); err != nil {
		return err
	}
	return redirect(c, "/products/"+strconv.FormatInt(p.ID, 10))
}

func (s *Server) deleteProduct(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteProduct(c.Request().Context(), id); err != nil {
		return err
	}
	if err := s.flash(c, "Product deleted."); err != nil {
		return err
	}
	return redirect(c, "/products")
}

// showProductPage shows the product, its counts and its delivery log.
func (s *Server) showProductPage(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := s.loadProduct(c)
	if err != nil {
		return err
	}
	p.Secret = ""
	path := "/products/" + strconv.FormatInt(p.ID, 10)
	q, st := objListQuery(c, path, "deliveries-table")
	v := pages.ProductView{P: *p, CSRF: s.csrfToken(c), CanEdit: isAdmin(c), List: st}
	if v.Counts, err = s.store.ProductCounts(ctx, p.ID); err != nil {
		return err
	}
	if v.Deliveries, v.List.Total, err = s.store.ListDeliveries(ctx, p.ID, q); err != nil {
		return err
	}
	if v.Attention, v.AttentionTotal, err = s.store.ListAttention(ctx, p.ID, model.ListQuery{PerPage: 100}); err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "Product "+p.Name, pages.ProductPage(v))
}

// productProgress is the polled counts fragment.
func (s *Server) productProgress(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	cnt, err := s.store.ProductCounts(c.Request().Context(), id)
	if err != nil {
		return err
	}
	var buf strings.Builder
	if err := pages.ProductProgress(id, cnt).Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTML(http.StatusOK, buf.String())
}

// testProduct runs the product's test (SCIM ServiceProviderConfig or a
// signed webhook ping) and answers with the result fragment.
func (s *Server) testProduct(c echo.Context) error {
	p, err := s.loadProduct(c)
	if err != nil {
		return err
	}
	if s.products == nil {
		return model.Errorf(model.EUNAVAILABLE, "Product delivery is not running.")
	}
	r := s.products.Test(c.Request().Context(), p)
	var buf strings.Builder
	if err := pages.ProductTestResult(r.OK, r.Message, r.LatencyMS).Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTML(http.StatusOK, buf.String())
}

func (s *Server) retryProduct(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	n, err := s.store.RetryFailed(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := s.flash(c, strconv.Itoa(n)+" failed deliveries will be retried now."); err != nil {
		return err
	}
	return redirect(c, "/products/"+strconv.FormatInt(id, 10))
}

// resolveAttention retries or drops deliveries that need attention: the
// checked ones, or all of them when none is checked (audited in the store).
func (s *Server) resolveAttention(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	ids, err := formIDs(c, "user_id")
	if err != nil {
		return err
	}
	drop := false
	switch c.FormValue("action") {
	case "retry":
	case "drop":
		drop = true
	default:
		return model.Errorf(model.EINVALID, "Choose retry or drop.")
	}
	if _, err := s.store.GetProduct(c.Request().Context(), id); err != nil {
		return err
	}
	n, err := s.store.ResolveAttention(c.Request().Context(), id, ids, drop)
	if err != nil {
		return err
	}
	msg := strconv.Itoa(n) + " deliveries will be retried now."
	if drop {
		msg = strconv.Itoa(n) + " deliveries dropped."
	}
	if err := s.flash(c, msg); err != nil {
		return err
	}
	return redirect(c, "/products/"+strconv.FormatInt(id, 10))
}

// syncProduct marks every assigned user of one product pending.
func (s *Server) syncProduct(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.store.GetProduct(c.Request().Context(), id); err != nil {
		return err
	}
	n, err := s.store.MarkAllPending(c.Request().Context(), []int64{id})
	if err != nil {
		return err
	}
	if err := s.flash(c, strconv.Itoa(n)+" users queued for delivery."); err != nil {
		return err
	}
	return redirect(c, "/products/"+strconv.FormatInt(id, 10))
}

func formIDs(c echo.Context, name string) ([]int64, error) {
	if err := c.Request().ParseForm(); err != nil {
		return nil, model.Errorf(model.EINVALID, "The form could not be read.")
	}
	var ids []int64
	for _, v := range c.Request().PostForm[name] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			return nil, model.Errorf(model.EINVALID, "Invalid selection.")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// syncAllProducts is "Sync all users to product(s)": the checked products,
// or every enabled product when none is checked.
func (s *Server) syncAllProducts(c echo.Context) error {
	ids, err := formIDs(c, "product_id")
	if err != nil {
		return err
	}
	n, err := s.store.MarkAllPending(c.Request().Context(), ids)
	if err != nil {
		return err
	}
	if err := s.flash(c, strconv.Itoa(n)+" user deliveries queued."); err != nil {
		return err
	}
	return redirect(c, "/products")
}

// syncUsers is "Sync selected users" (users list multi-select, or one
// user's page): their pairs with every enabled product become pending.
func (s *Server) syncUsers(c echo.Context) error {
	ids, err := formIDs(c, "user_id")
	if err != nil {
		return err
	}
	back := "/users"
	if len(ids) == 1 && c.FormValue("from") == "user" {
		back = "/users/" + strconv.FormatInt(ids[0], 10)
	}
	if len(ids) == 0 {
		if err := s.flash(c, "Select at least one user to sync."); err != nil {
			return err
		}
		return redirect(c, back)
	}
	pids, err := formIDs(c, "product_id")
	if err != nil {
		return err
	}
	n, err := s.store.MarkUsersPending(c.Request().Context(), pids, ids)
	if err != nil {
		return err
	}
	if err := s.flash(c, strconv.Itoa(len(ids))+" users queued for product sync ("+strconv.Itoa(n)+" deliveries)."); err != nil {
		return err
	}
	return redirect(c, back)
}
