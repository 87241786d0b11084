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
    let take_slot = |field: &Field<'_>| {
        let ident = field.ident;
        quote!(self.#ident)
    };
    let from_slots = load_body(input, take_slot);
    let stored_impls = input.stored().map(|field| {
        let (ty, marker) = (field.ty, marker(field.ident));
        quote_spanned! {ty.span()=>
            #[automatically_derived]
            impl ::rocket_keepsake::__private::StoredField for __keepsake_field::#marker {
                type Value = #ty;
            }
        }
    });
    let slot_idents: Vec<&Ident> = input.stored().map(|f| f.ident).collect();
    let read_slots = input.stored().map(|field| {
        let (ident, ty, key, marker) = (field.ident, field.ty, field.key().0, marker(field.ident));
        let read =
            quote_spanned!(ty.span()=> __keepsake_reader.field::<__keepsake_field::#marker>(#key));
        quote!(#ident: #read,)
    });
    let slot_types = input.stored().map(|f| f.ty);
    let slot_keys = input.stored().map(|f| f.key().0);
    let slot_positions = 0..input.stored().count();
    let decode_arms = input.stored().enumerate().map(|(i, field)| {
        let (ident, ty, marker) = (field.ident, field.ty, marker(field.ident));
        let next = quote_spanned!(ty.span()=> ::rocket_keepsake::__private::next_field::<__keepsake_field::#marker, __A>(__keepsake_map)?);
        quote!(#i => self.#ident = ::core::option::Option::Some(#next),)
    });
    let encode = input.stored().map(|field| {
        let (ident, ty, marker) = (field.ident, field.ty, marker(field.ident));
        quote_spanned!(ty.span()=> __keepsake_encoder.field::<__keepsake_field::#marker>(&self.#ident);)
    });
    quote! {
        const _: () = {
            #[allow(non_camel_case_types, dead_code, unreachable_pub)]
            mod __keepsake_field {
                #(pub struct #markers;)*
            }

            #(#stored_impls)*

            #[automatically_derived]
            impl ::rocket_keepsake::__private::Sealed for #ident {}

            /// The stored fields as the record is read, each `None` until its key is:
            /// both loads fill it, and one function makes the view of it.
            struct __KeepsakeSlots {
                #(#slot_idents: ::core::option::Option<#slot_types>,)*
            }

            type __KeepsakeView = #ident;

            impl __KeepsakeSlots {
                /// The view: each field from its slot, else its default.
                fn into_view(self) -> #ident {
                    #from_slots
                }
            }

            #[automatically_derived]
            impl<'de> ::rocket_keepsake::__private::Slots<'de> for __KeepsakeSlots {
                fn index(__keepsake_key: &str) -> ::core::option::Option<usize> {
                    match __keepsake_key {
                        #(#slot_keys => ::core::option::Option::Some(#slot_positions),)*
                        _ => ::core::option::Option::None,
                    }
                }

                fn decode<__A: ::rocket_keepsake::__private::serde::de::MapAccess<'de>>(
                    &mut self,
                    __keepsake_index: usize,
                    __keepsake_map: &mut __A,
                ) -> ::core::result::Result<(), __A::Error> {
                    match __keepsake_index {
                        #(#decode_arms)*
                        _ => ::rocket_keepsake::__private::skip_value(__keepsake_map)?,
                    }
                    ::core::result::Result::Ok(())
                }
            }

            #[automatically_derived]
            impl ::rocket_keepsake::__private::SessionView for #ident {
                const KEYS: &'static [&'static str] = &[#(#keys),*];
                const ROTATE: &'static [&'static str] = &[#(#rotate),*];
                #index_const

                fn load(__keepsake_reader: &mut ::rocket_keepsake::__private::FieldReader<'_>) -> Self {
                    __KeepsakeSlots { #(#read_slots)* }.into_view()
                }

                fn load_text(
                    __keepsake_text: &str,
                ) -> ::core::option::Option<(Self, ::rocket_keepsake::__private::TextRead)> {
                    let __keepsake_empty = __KeepsakeSlots {
                        #(#slot_idents: ::core::option::Option::None,)*
                    };
                    let (__keepsake_slots, __keepsake_read) =
                        ::rocket_keepsake::__private::decode_text(__keepsake_text, __keepsake_empty)?;
                    ::core::option::Option::Some((__keepsake_slots.into_view(), __keepsake_read))
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

/// The view built from the slots: decoded keys (`read` gives a field's, as an
/// `Option`), else the field's own default, else the struct's `Default` (built once,
/// and only when some field falls back on it).
///
/// The view is named through the alias `__KeepsakeView`, written where an error about
/// it should point.
fn load_body(input: &Input<'_>, read: impl Fn(&Field<'_>) -> TokenStream) -> TokenStream {
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
        return quote!(__KeepsakeView { #(#init),* });
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
        ::rocket_keepsake::__private::struct_default::<__keepsake_field::#marker, __KeepsakeView>()
    };
    quote! {
        let mut __keepsake_view: __KeepsakeView = #struct_default;
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
