//! Code generation for a valid input: the `SessionView` impl.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::{Field, Input};
use super::attr::DefaultValue;

pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    let ident = input.ident;
    let keys = input.stored().map(|f| f.key().0);
    let load = load_body(input);
    let encode = input.stored().map(|Field { ident, ty, .. }| {
        quote_spanned!(ty.span()=> __keepsake_encoder.field::<#ty>(&self.#ident);)
    });
    quote! {
        #[automatically_derived]
        impl ::rocket_keepsake::__private::SessionView for #ident {
            const KEYS: &'static [&'static str] = &[#(#keys),*];

            fn load(__keepsake_reader: &mut ::rocket_keepsake::__private::FieldReader<'_>) -> Self {
                #load
            }

            fn encode(&self, __keepsake_encoder: &mut ::rocket_keepsake::__private::FieldEncoder<'_>) {
                #(#encode)*
            }
        }
    }
}

/// `Self` built from the record: decoded keys, else the field's own default, else the
/// struct's `Default` (built once, and only when some field falls back on it).
fn load_body(input: &Input<'_>) -> TokenStream {
    let read = |field: &Field<'_>| {
        let ty = field.ty;
        let key = field.key().0;
        quote_spanned!(ty.span()=> __keepsake_reader.field::<#ty>(#key))
    };
    if input.needs_struct_default() {
        let assign = input.fields.iter().map(|field| {
            let ident = field.ident;
            let own = field.default().map(default_expr);
            match (field.attrs.skip.is_some(), own) {
                (true, None) => quote!(),
                (true, Some(own)) => quote!(__keepsake_view.#ident = #own;),
                (false, own) => {
                    let read = read(field);
                    let otherwise = own.map(|own| quote!(else { __keepsake_view.#ident = #own; }));
                    quote! {
                        if let ::core::option::Option::Some(__keepsake_value) = #read {
                            __keepsake_view.#ident = __keepsake_value;
                        } #otherwise
                    }
                }
            }
        });
        let ident = input.ident;
        quote_spanned! {ident.span()=>
            let mut __keepsake_view: Self = ::core::default::Default::default();
            #(#assign)*
            __keepsake_view
        }
    } else {
        let init = input.fields.iter().map(|field| {
            let ident = field.ident;
            let own = field.default().map(default_expr);
            if field.attrs.skip.is_some() {
                quote!(#ident: #own)
            } else {
                let read = read(field);
                quote! {
                    #ident: match #read {
                        ::core::option::Option::Some(__keepsake_value) => __keepsake_value,
                        ::core::option::Option::None => #own,
                    }
                }
            }
        });
        quote!(Self { #(#init),* })
    }
}

fn default_expr(default: &DefaultValue) -> TokenStream {
    match default {
        DefaultValue::Trait => quote!(::core::default::Default::default()),
        DefaultValue::Path(path) => quote_spanned!(path.span()=> #path()),
    }
}
