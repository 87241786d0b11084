//! Code generation for a valid input: the `SessionView` impl.
//!
//! Each stored field gets a marker type named after it, in a module of the generated
//! `const _` block: the runtime's bounds take it as a parameter, so that a field whose
//! type cannot be stored, or that has no value in a new session, is named in the error.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Ident;

use super::ast::{Field, Input};
use super::attr::DefaultValue;

pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    let ident = input.ident;
    let keys = input.stored().map(|f| f.key().0);
    let markers = input.fields.iter().map(|field| marker(field.ident));
    let rotate = input
        .stored()
        .filter(|f| f.attrs.rotate.is_some())
        .map(|f| f.key().0);
    let index = input.stored().find(|f| f.attrs.index.is_some());
    let index_const = index.map(|f| {
        let key = f.key().0;
        quote!(const INDEX: ::core::option::Option<&'static str> = ::core::option::Option::Some(#key);)
    });
    let indexed_impl = index.map(|f| {
        let key = f.key().0;
        quote! {
            #[automatically_derived]
            impl ::rocket_keepsake::IndexedView for #ident {
                const INDEX_KEY: &'static str = #key;
            }
        }
    });
    let load = load_body(input);
    let encode = input.stored().map(|field| {
        let (ident, ty, marker) = (field.ident, field.ty, marker(field.ident));
        quote_spanned!(ty.span()=> __keepsake_encoder.field::<__keepsake_field::#marker, #ty>(&self.#ident);)
    });
    quote! {
        const _: () = {
            #[allow(non_camel_case_types, dead_code, unreachable_pub)]
            mod __keepsake_field {
                #(pub struct #markers;)*
            }

            #[automatically_derived]
            impl ::rocket_keepsake::__private::Sealed for #ident {}

            #[automatically_derived]
            impl ::rocket_keepsake::__private::SessionView for #ident {
                const KEYS: &'static [&'static str] = &[#(#keys),*];
                const ROTATE: &'static [&'static str] = &[#(#rotate),*];
                #index_const

                fn load(__keepsake_reader: &mut ::rocket_keepsake::__private::FieldReader<'_>) -> Self {
                    #load
                }

                fn encode(&self, __keepsake_encoder: &mut ::rocket_keepsake::__private::FieldEncoder<'_>) {
                    #(#encode)*
                }
            }

            #indexed_impl
        };
    }
}

/// The marker type of a field: named as the field is written (`r#type` stays raw,
/// being a keyword), so that errors print the field's name.
fn marker(ident: &Ident) -> Ident {
    ident.clone()
}

/// `Self` built from the record: decoded keys, else the field's own default, else the
/// struct's `Default` (built once, and only when some field falls back on it).
fn load_body(input: &Input<'_>) -> TokenStream {
    let read = |field: &Field<'_>| {
        let (ty, key, marker) = (field.ty, field.key().0, marker(field.ident));
        quote_spanned!(ty.span()=> __keepsake_reader.field::<__keepsake_field::#marker, #ty>(#key))
    };
    let Some(first) = input.fields.iter().find(|f| f.attrs.default.is_none()) else {
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
        return quote!(Self { #(#init),* });
    };
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
    // The struct's `Default`, asked for on behalf of the first field that needs it.
    let marker = marker(first.ident);
    let struct_default = quote_spanned! {first.ident.span()=>
        ::rocket_keepsake::__private::struct_default::<__keepsake_field::#marker, Self>()
    };
    quote! {
        let mut __keepsake_view: Self = #struct_default;
        #(#assign)*
        __keepsake_view
    }
}

fn default_expr(default: &DefaultValue) -> TokenStream {
    match default {
        DefaultValue::Trait => quote!(::core::default::Default::default()),
        DefaultValue::Path(path) => quote_spanned!(path.span()=> #path()),
    }
}
