//! Rules over the parsed input, one function each.

use std::collections::BTreeMap;

use super::ast::Input;
use crate::ctxt::Ctxt;

pub(crate) fn check(cx: &mut Ctxt, input: &Input<'_>) {
    check_skip_alone(cx, input);
    check_one_index(cx, input);
    check_keys_not_empty(cx, input);
    check_keys_not_reserved(cx, input);
    check_keys_unique(cx, input);
}

/// A skipped field has no key, so renaming it means nothing and is likely a mistake.
fn check_skip_alone(cx: &mut Ctxt, input: &Input<'_>) {
    for field in &input.fields {
        check_skip_stored_only(cx, field);
        if let (Some(_), Some(rename)) = (field.attrs.skip, &field.attrs.rename) {
            cx.error_spanned_by(
                rename,
                "`#[session(skip)]` and `rename` conflict; a skipped field is never stored",
            );
        }
    }
}

/// A skipped field is never stored, so it cannot rotate or index the session.
fn check_skip_stored_only(cx: &mut Ctxt, field: &super::ast::Field<'_>) {
    for (option, span) in [("rotate", field.attrs.rotate), ("index", field.attrs.index)] {
        if let (Some(_), Some(span)) = (field.attrs.skip, span) {
            cx.syn_error(syn::Error::new(
                span,
                format!(
                    "`#[session(skip)]` and `{option}` conflict; a skipped field is never stored"
                ),
            ));
        }
    }
}

/// `revoke_all` finds sessions by one value per view.
fn check_one_index(cx: &mut Ctxt, input: &Input<'_>) {
    let mut indexed = input.stored().filter(|f| f.attrs.index.is_some());
    let Some(first) = indexed.next() else {
        return;
    };
    for field in indexed {
        if let Some(span) = field.attrs.index {
            cx.syn_error(syn::Error::new(
                span,
                format!(
                    "a view has at most one `#[session(index)]` field, and `{}` is already one",
                    first.ident
                ),
            ));
        }
    }
}

/// An empty key cannot be told apart from a missing one in other tools.
fn check_keys_not_empty(cx: &mut Ctxt, input: &Input<'_>) {
    for field in input.stored() {
        if let Some(rename) = field.attrs.rename.as_ref().filter(|r| r.value().is_empty()) {
            cx.error_spanned_by(rename, "`#[session(rename)]` key must not be empty");
        }
    }
}

/// Keys starting with `_` belong to the library (`_flashes`, `_permanent`, ...).
fn check_keys_not_reserved(cx: &mut Ctxt, input: &Input<'_>) {
    for field in input.stored() {
        let (key, span) = field.key();
        if key.starts_with('_') {
            let help = if field.attrs.rename.is_some() {
                "choose another key"
            } else {
                "add `#[session(rename = \"...\")]`"
            };
            cx.syn_error(syn::Error::new(span, format!("session key `{key}` starts with `_`, which is reserved for rocket_keepsake; {help}")));
        }
    }
}

/// Two fields with one key would overwrite each other.
fn check_keys_unique(cx: &mut Ctxt, input: &Input<'_>) {
    let mut seen = BTreeMap::new();
    for field in input.stored() {
        let (key, span) = field.key();
        if let Some(first) = seen.insert(key.clone(), field.ident) {
            cx.syn_error(syn::Error::new(
                span,
                format!("session key `{key}` is already used by field `{first}`"),
            ));
        }
    }
}
