//! Code generation for a valid input: the enum with its derives, and the impls.

use proc_macro2::TokenStream;
use quote::quote;

use super::ast::Input;
use super::attr;

/// The derives `#[flash]` guarantees, with the paths it adds them by.
const DERIVES: &[(&str, &str)] = &[
    ("Clone", "::core::clone::Clone"),
    ("Copy", "::core::marker::Copy"),
    ("Debug", "::core::fmt::Debug"),
    ("PartialEq", "::core::cmp::PartialEq"),
    ("Eq", "::core::cmp::Eq"),
    ("Hash", "::core::hash::Hash"),
];

pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    let mut item = input.original.clone();
    let missing: Vec<syn::Path> = DERIVES
        .iter()
        .filter(|(name, _)| !attr::derives(&item.attrs, name))
        .map(|(_, path)| syn::parse_str(path).expect("a valid path"))
        .collect();
    if !missing.is_empty() {
        item.attrs.push(syn::parse_quote!(#[derive(#(#missing),*)]));
    }
    attr::strip_enum(&mut item);

    let ident = &item.ident;
    let vis = &item.vis;
    let variants: Vec<_> = input.variants.iter().map(|v| v.ident).collect();
    let categories: Vec<_> = input
        .variants
        .iter()
        .map(|v| v.category.0.as_str())
        .collect();
    quote! {
        #item

        #[automatically_derived]
        impl ::rocket_keepsake::__private::SealedCategory for #ident {}

        #[automatically_derived]
        impl ::rocket_keepsake::__private::FlashCategory for #ident {
            const ALL: &'static [Self] = &[#(Self::#variants),*];

            fn as_str(&self) -> &'static str {
                match self {
                    #(Self::#variants => #categories,)*
                }
            }
        }

        impl #ident {
            /// Every flash category of this type, in declaration order.
            #[allow(dead_code)]
            #vis const ALL: &'static [Self] = <Self as ::rocket_keepsake::__private::FlashCategory>::ALL;

            /// The category string stored in the session, e.g. `"success"`.
            #[allow(dead_code)]
            #vis fn as_str(&self) -> &'static str {
                <Self as ::rocket_keepsake::__private::FlashCategory>::as_str(self)
            }
        }

        #[automatically_derived]
        impl ::core::fmt::Display for #ident {
            fn fmt(&self, __keepsake_f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __keepsake_f.write_str(<Self as ::rocket_keepsake::__private::FlashCategory>::as_str(self))
            }
        }

        #[automatically_derived]
        impl ::core::str::FromStr for #ident {
            type Err = ::rocket_keepsake::__private::UnknownCategory;

            fn from_str(__keepsake_s: &str) -> ::core::result::Result<Self, Self::Err> {
                match __keepsake_s {
                    #(#categories => ::core::result::Result::Ok(Self::#variants),)*
                    _ => ::core::result::Result::Err(::rocket_keepsake::__private::UnknownCategory(
                        ::std::string::ToString::to_string(__keepsake_s),
                    )),
                }
            }
        }
    }
}
