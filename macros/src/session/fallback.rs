//! What the derive emits on error: the errors, and a stub impl so that one mistake
//! does not turn every use of the type into another error.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) fn expand(node: &DeriveInput, errors: syn::Error) -> TokenStream {
    let errors = errors.into_compile_error();
    if !node.generics.params.is_empty() {
        return errors;
    }
    let ident = &node.ident;
    quote! {
        #errors
        const _: () = {
            #[automatically_derived]
            impl ::rocket_keepsake::__private::Sealed for #ident {}

            #[automatically_derived]
            impl ::rocket_keepsake::__private::SessionView for #ident {
                const KEYS: &'static [&'static str] = &[];
                fn load(_: &mut ::rocket_keepsake::__private::FieldReader<'_>) -> Self {
                    ::core::unimplemented!()
                }
                fn encode(&self, _: &mut ::rocket_keepsake::__private::FieldEncoder<'_>) {}
            }
        };
    }
}
