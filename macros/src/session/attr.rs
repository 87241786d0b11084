//! `#[session(...)]` field options, parsed into typed values.

use proc_macro2::Span;
use syn::{Attribute, ExprPath, LitStr};

use crate::ctxt::Ctxt;

const SESSION: &str = "session";
const RENAME: &str = "rename";
const DEFAULT: &str = "default";
const SKIP: &str = "skip";
const ROTATE: &str = "rotate";
const INDEX: &str = "index";

/// Where an absent key's value comes from, when the field says.
pub(crate) enum DefaultValue {
    /// `#[session(default)]`: `Default::default()` of the field's type.
    Trait,
    /// `#[session(default = "path")]`: `path()`.
    Path(ExprPath),
}

/// The options of one field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) rename: Option<LitStr>,
    pub(crate) default: Option<(Span, DefaultValue)>,
    pub(crate) skip: Option<Span>,
    /// `#[session(rotate)]`: a change of the field re-issues the session id.
    pub(crate) rotate: Option<Span>,
    /// `#[session(index)]`: the field's value indexes the session in a server store.
    pub(crate) index: Option<Span>,
}

impl FieldAttrs {
    /// Parses every `#[session(...)]` on a field, reporting each mistake.
    pub(crate) fn from_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> FieldAttrs {
        let mut out = FieldAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident(SESSION)) {
            let parsed = attr.parse_nested_meta(|meta| {
                let key = &meta.path;
                if key.is_ident(RENAME) {
                    let value = string(&meta, "`rename` expects a string, like `rename = \"uid\"`")?;
                    set_once(cx, &mut out.rename, key, value);
                } else if key.is_ident(DEFAULT) {
                    let value = if meta.input.peek(syn::Token![=]) {
                        const EXPECTED: &str =
                            "`default` expects a string naming a function, like `default = \"my_mod::start\"`";
                        let lit = string(&meta, EXPECTED)?;
                        DefaultValue::Path(lit.parse().map_err(|_| syn::Error::new(lit.span(), EXPECTED))?)
                    } else {
                        DefaultValue::Trait
                    };
                    set_once(cx, &mut out.default, key, (key_span(key), value));
                } else if key.is_ident(SKIP) {
                    set_once(cx, &mut out.skip, key, key_span(key));
                } else if key.is_ident(ROTATE) {
                    set_once(cx, &mut out.rotate, key, key_span(key));
                } else if key.is_ident(INDEX) {
                    set_once(cx, &mut out.index, key, key_span(key));
                } else {
                    let name = quote::ToTokens::to_token_stream(key).to_string().replace(' ', "");
                    return Err(meta.error(format_args!(
                        "unknown `#[session]` option `{name}`; expected one of `rename`, `default`, `skip`, `rotate`, `index`"
                    )));
                }
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
        }
        out
    }
}

/// The string after `=`, or `expected` spanned at whatever stands there instead.
fn string(meta: &syn::meta::ParseNestedMeta<'_>, expected: &str) -> syn::Result<LitStr> {
    let value = meta.value()?;
    value
        .parse()
        .map_err(|e| syn::Error::new(e.span(), expected))
}

fn key_span(path: &syn::Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span())
}

/// Stores `value` unless the option was already given, which is an error on the repeat.
fn set_once<T>(cx: &mut Ctxt, slot: &mut Option<T>, key: &syn::Path, value: T) {
    if slot.is_some() {
        let name = quote::ToTokens::to_token_stream(key).to_string();
        cx.error_spanned_by(key, format!("duplicate `#[session]` option `{name}`"));
    } else {
        *slot = Some(value);
    }
}
