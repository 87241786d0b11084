//! `#[flash]`: parse, check, expand.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Ctxt;

pub(crate) fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    if !args.is_empty() {
        cx.error_spanned_by(
            &args,
            "`#[flash]` takes no arguments; name a category with `#[flash(category = \"...\")]` on a variant",
        );
    }
    let mut item: syn::Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => {
            let e = e.into_compile_error();
            return quote!(#e #item);
        }
    };
    let input = ast::Input::from_syn(&mut cx, &item);
    if let Some(input) = &input {
        check::check(&mut cx, input);
    }
    let expanded = match (&input, cx.check()) {
        (Some(input), Ok(())) => return expand::expand(input),
        (_, Err(errors)) => errors.into_compile_error(),
        (None, Ok(())) => unreachable!("a refused input always reports why"),
    };
    // The user's item, unchanged but for our variant attributes (which would be
    // misread as invocations of this macro), so that one mistake stays one error.
    attr::strip(&mut item);
    quote!(#expanded #item)
}
