//! Rules over the parsed input, one function each.

use std::collections::BTreeMap;

use super::ast::Input;
use crate::ctxt::Ctxt;

pub(crate) fn check(cx: &mut Ctxt, input: &Input<'_>) {
    check_categories_not_empty(cx, input);
    check_categories_unique(cx, input);
}

/// An empty category cannot be told apart from a missing one in a template.
fn check_categories_not_empty(cx: &mut Ctxt, input: &Input<'_>) {
    for variant in &input.variants {
        let (category, span) = &variant.category;
        if category.is_empty() {
            cx.syn_error(syn::Error::new(*span, "flash category must not be empty"));
        }
    }
}

/// Two variants with one category string could not be told apart when read back.
fn check_categories_unique(cx: &mut Ctxt, input: &Input<'_>) {
    let mut seen = BTreeMap::new();
    for variant in &input.variants {
        let (category, span) = &variant.category;
        if let Some(first) = seen.insert(category.clone(), variant.ident) {
            let message =
                format!("flash category \"{category}\" is already used by variant `{first}`");
            cx.syn_error(syn::Error::new(*span, message));
        }
    }
}
