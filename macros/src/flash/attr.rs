//! `#[flash(...)]` variant options.

use syn::{Attribute, LitStr};

use crate::ctxt::Ctxt;

const FLASH: &str = "flash";
const CATEGORY: &str = "category";

/// The category a variant names with `#[flash(category = "...")]`, if any.
pub(crate) fn category(cx: &mut Ctxt, attrs: &[Attribute]) -> Option<LitStr> {
    let mut category: Option<LitStr> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident(FLASH)) {
        let parsed = attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident(CATEGORY) {
                let name = quote::ToTokens::to_token_stream(&meta.path)
                    .to_string()
                    .replace(' ', "");
                return Err(meta.error(format_args!(
                    "unknown `#[flash]` option `{name}`; expected `category`"
                )));
            }
            let value = meta.value()?;
            let lit: LitStr = value.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`category` expects a string, like `category = \"danger\"`",
                )
            })?;
            if category.is_some() {
                cx.error_spanned_by(&meta.path, "duplicate `#[flash]` option `category`");
            } else {
                category = Some(lit);
            }
            Ok(())
        });
        if let Err(e) = parsed {
            cx.syn_error(e);
        }
    }
    category
}

/// Removes `#[flash(...)]` from the variants of `item`, if it is an enum.
pub(crate) fn strip(item: &mut syn::Item) {
    if let syn::Item::Enum(item) = item {
        strip_enum(item);
    }
}

/// Removes `#[flash(...)]` from the variants of `item`.
pub(crate) fn strip_enum(item: &mut syn::ItemEnum) {
    for variant in &mut item.variants {
        variant.attrs.retain(|a| !a.path().is_ident(FLASH));
    }
}

/// Whether `attrs` derive a trait named `name` (by its last path segment).
pub(crate) fn derives(attrs: &[Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|attr| {
            let mut found = false;
            let _ = attr.parse_nested_meta(|meta| {
                found |= meta.path.segments.last().is_some_and(|s| s.ident == name);
                Ok(())
            });
            found
        })
}
