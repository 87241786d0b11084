//! The typed input of the derive, borrowing the syn tree.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use super::attr::{DefaultValue, FieldAttrs};
use crate::ctxt::Ctxt;

pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) fields: Vec<Field<'a>>,
}

pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs,
}

impl<'a> Input<'a> {
    /// The struct's fields, or `None` (with errors reported) for any other shape.
    pub(crate) fn from_syn(cx: &mut Ctxt, node: &'a DeriveInput) -> Option<Input<'a>> {
        let shape_error = |what: &str| {
            format!(
                "`#[derive(Session)]` needs a struct with named fields; `{}` is {what}",
                node.ident
            )
        };
        let fields = match &node.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(fields) => fields,
                Fields::Unnamed(_) => {
                    cx.error_spanned_by(&data.fields, shape_error("a tuple struct"));
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(&node.ident, shape_error("a unit struct"));
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(data.enum_token, shape_error("an enum"));
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(data.union_token, shape_error("a union"));
                return None;
            }
        };
        if !node.generics.params.is_empty() {
            // Reported, and the fields are still read, so that their mistakes show too.
            cx.error_spanned_by(
                &node.generics,
                "`#[derive(Session)]` does not support generic or lifetime parameters; a session view owns its values",
            );
        }
        let fields = fields
            .named
            .iter()
            .filter_map(|field| {
                Some(Field {
                    ident: field.ident.as_ref()?,
                    ty: &field.ty,
                    attrs: FieldAttrs::from_attrs(cx, &field.attrs),
                })
            })
            .collect();
        Some(Input {
            ident: &node.ident,
            fields,
        })
    }

    /// The fields kept in the record, in order.
    pub(crate) fn stored(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.attrs.skip.is_none())
    }
}

impl Field<'_> {
    /// The field's key in the record, and the span to report it at.
    pub(crate) fn key(&self) -> (String, Span) {
        match &self.attrs.rename {
            Some(lit) => (lit.value(), lit.span()),
            None => (self.ident.unraw().to_string(), self.ident.span()),
        }
    }

    pub(crate) fn default(&self) -> Option<&DefaultValue> {
        self.attrs.default.as_ref().map(|(_, value)| value)
    }
}
