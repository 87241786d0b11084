//! The typed input of `#[flash]`, borrowing the syn tree.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Fields, Ident, Item, ItemEnum};

use super::attr;
use crate::ctxt::Ctxt;

pub(crate) struct Input<'a> {
    pub(crate) original: &'a ItemEnum,
    pub(crate) variants: Vec<Variant<'a>>,
}

pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    /// The category string, and where to report a problem with it.
    pub(crate) category: (String, Span),
}

impl<'a> Input<'a> {
    /// The enum, or `None` (with errors reported) for any other item.
    pub(crate) fn from_syn(cx: &mut Ctxt, item: &'a Item) -> Option<Input<'a>> {
        let wrong =
            |what: &str| format!("`#[flash]` goes on an enum of unit variants, not on {what}");
        let original = match item {
            Item::Enum(item) => item,
            Item::Struct(item) => return refuse(cx, item.struct_token, wrong("a struct")),
            Item::Union(item) => return refuse(cx, item.union_token, wrong("a union")),
            Item::Fn(item) => return refuse(cx, item.sig.fn_token, wrong("a function")),
            other => return refuse(cx, other, wrong("this item")),
        };
        if !original.generics.params.is_empty() {
            return refuse(
                cx,
                &original.generics,
                "`#[flash]` does not support generic or lifetime parameters",
            );
        }
        if original.variants.is_empty() {
            return refuse(
                cx,
                &original.ident,
                "`#[flash]` needs at least one variant, one per category",
            );
        }
        let variants = original
            .variants
            .iter()
            .map(|variant| {
                if !matches!(variant.fields, Fields::Unit) {
                    cx.error_spanned_by(
                        &variant.fields,
                        format!(
                            "flash category `{}` cannot hold data; make it a unit variant",
                            variant.ident
                        ),
                    );
                }
                let category = match attr::category(cx, &variant.attrs) {
                    Some(lit) => (lit.value(), lit.span()),
                    None => (
                        // `r#Type` is the category `type`.
                        variant.ident.unraw().to_string().to_lowercase(),
                        variant.ident.span(),
                    ),
                };
                Variant {
                    ident: &variant.ident,
                    category,
                }
            })
            .collect();
        Some(Input { original, variants })
    }
}

fn refuse<T: quote::ToTokens>(
    cx: &mut Ctxt,
    tokens: T,
    message: impl std::fmt::Display,
) -> Option<Input<'static>> {
    cx.error_spanned_by(tokens, message);
    None
}
