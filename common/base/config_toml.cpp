// config_toml — toml++ behind a C ABI. Flattens tables into "a.b" leaf items with positions.
#include "config_toml.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace {

void set_pos(CfgTomlItem &it, const toml::source_region &key, const toml::source_region &val) {
  it.key_line = static_cast<int>(key.begin.line);
  it.key_col = static_cast<int>(key.begin.column);
  it.val_line = static_cast<int>(val.begin.line);
  it.val_col = static_cast<int>(val.begin.column);
}

void flatten(const toml::table &tbl, const std::string &prefix, int depth,
             std::vector<CfgTomlItem> &out) {
  for (auto &&[k, v] : tbl) {
    std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (v.is_table() && depth == 0) {
      // a section: its own position is not a value; recurse
      flatten(*v.as_table(), path, depth + 1, out);
      continue;
    }
    if (v.is_array_of_tables() && depth == 0) {
      // [[name]]: one section per element, "name.<index>"
      int i = 0;
      for (auto &&el : *v.as_array())
        flatten(*el.as_table(), path + "." + std::to_string(i++), 1, out);
      continue;
    }
    CfgTomlItem it;
    std::memset(&it, 0, sizeof it);
    std::snprintf(it.key, sizeof it.key, "%s", path.c_str());
    set_pos(it, k.source(), v.source());
    if (auto p = v.as_integer()) {
      it.type = CT_INT;
      it.i = p->get();
      it.f = static_cast<double>(it.i);
    } else if (auto q = v.as_floating_point()) {
      it.type = CT_FLOAT;
      it.f = q->get();
    } else if (auto b = v.as_boolean()) {
      it.type = CT_BOOL;
      it.b = b->get() ? 1 : 0;
    } else if (auto s = v.as_string()) {
      it.type = CT_STRING;
      const std::string &str = s->get();
      it.s = static_cast<char *>(std::malloc(str.size() + 1));
      std::memcpy(it.s, str.c_str(), str.size() + 1);
      it.s_len = str.size();
    } else if (auto a = v.as_array();
               a && !a->empty() && a->is_homogeneous(toml::node_type::string)) {
      it.type = CT_STRARRAY;
      it.nstrs = static_cast<int>(a->size());
      it.strs = static_cast<char **>(std::malloc(sizeof(char *) * (a->size() + 1)));
      int n = 0;
      for (auto &&el : *a) {
        const std::string &str = el.as_string()->get();
        it.strs[n] = static_cast<char *>(std::malloc(str.size() + 1));
        std::memcpy(it.strs[n++], str.c_str(), str.size() + 1);
      }
    } else if (auto a = v.as_array()) {
      it.type = CT_ARRAY;
      it.arr_len = static_cast<int>(a->size());
      it.arr = static_cast<double *>(std::malloc(sizeof(double) * (a->size() + 1)));
      int n = 0;
      for (auto &&el : *a) {
        if (auto ei = el.as_integer())
          it.arr[n++] = static_cast<double>(ei->get());
        else if (auto ef = el.as_floating_point())
          it.arr[n++] = ef->get();
        else {
          it.arr_bad = 1;
          it.arr[n++] = 0;
        }
      }
    } else if (v.is_table()) {
      it.type = CT_TABLE;
    } else {
      it.type = CT_OTHER;
    }
    out.push_back(it);
  }
}

} // namespace

extern "C" int cfg_toml_parse(const char *text, const char *source, CfgTomlItem **items,
                              int *nitems, char *err, size_t errlen, int *err_line, int *err_col) {
  *items = nullptr;
  *nitems = 0;
  try {
    toml::table tbl = toml::parse(std::string_view(text), std::string_view(source));
    std::vector<CfgTomlItem> out;
    flatten(tbl, "", 0, out);
    *nitems = static_cast<int>(out.size());
    *items = static_cast<CfgTomlItem *>(std::malloc(sizeof(CfgTomlItem) * (out.size() + 1)));
    if (!out.empty()) std::memcpy(*items, out.data(), sizeof(CfgTomlItem) * out.size());
    return 0;
  } catch (const toml::parse_error &e) {
    const auto &b = e.source().begin;
    if (err_line) *err_line = static_cast<int>(b.line);
    if (err_col) *err_col = static_cast<int>(b.column);
    std::snprintf(err, errlen, "%s", std::string(e.description()).c_str());
    return -1;
  } catch (const std::exception &e) {
    if (err_line) *err_line = 0;
    if (err_col) *err_col = 0;
    std::snprintf(err, errlen, "%s", e.what());
    return -1;
  }
}

extern "C" void cfg_toml_free(CfgTomlItem *items, int nitems) {
  for (int i = 0; i < nitems; i++) {
    std::free(items[i].s);
    std::free(items[i].arr);
    for (int k = 0; k < items[i].nstrs; k++) std::free(items[i].strs[k]);
    std::free(items[i].strs);
  }
  std::free(items);
}
