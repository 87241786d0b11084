//! `#[derive(Session)]`: parse, check, expand.

mod ast;
mod attr;
mod check;
mod expand;
mod fallback;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::ctxt::Ctxt;

pub(crate) fn derive(node: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let input = ast::Input::from_syn(&mut cx, node);
    if let Some(input) = &input {
        check::check(&mut cx, input);
    }
    match (input, cx.check()) {
        (Some(input), Ok(())) => expand::expand(&input),
        (_, Err(errors)) => fallback::expand(node, errors),
        (None, Ok(())) => unreachable!("a refused input always reports why"),
    }
}
