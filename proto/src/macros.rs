//! The declarative macros that define each wire enum from one list: every frame type and every
//! error code is written once, and the enum, its serde names, its list of names, its
//! `type_name` and (for requests) the fast decoder's arms all come from that one line.
//!
//! Used only inside this crate (by [`crate::frames`]); it owns no types itself.

/// Defines an internally tagged (`"type"`) wire enum from one list of
/// `Variant = "wire_name" { fields }` entries, and with it:
///
/// * `#[serde(rename = "wire_name")]` on each variant (so the serde name is the listed one),
/// * `TYPES`: every wire name, in list order,
/// * `type_name(&self)`: the wire name of a value.
///
/// Prefixed with `fast_decode Flat;`, it also generates `from_flat(f: Flat) -> Option<Self>`:
/// one match arm per variant that takes each field of the variant from the field of the same
/// name in the borrowed struct `Flat` (see [`FastField`]), `None` if one is missing or the type
/// is unknown.
macro_rules! wire_enum {
    (@fast $flat:ident;
        $(#[$meta:meta])*
        pub enum $enum:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $name:literal $({
                    $( $(#[$fmeta:meta])* $field:ident : $fty:ty ),* $(,)?
                })?
            ),* $(,)?
        }
    ) => {
        impl $enum {
            /// Builds the value named by `f.kind` from the fields of `f`; `None` when the type
            /// is unknown or a field is missing (the general decoder then decides the error).
            fn from_flat(f: $flat<'_>) -> Option<Self> {
                Some(match f.kind.as_ref() {
                    $(
                        $name => $enum::$variant $({ $(
                            $field: $crate::macros::FastField::<$fty>::take(f.$field)?
                        ),* })?,
                    )*
                    _ => return None,
                })
            }
        }
    };
    (fast_decode $flat:ident; $($rest:tt)*) => {
        wire_enum!(@fast $flat; $($rest)*);
        wire_enum!($($rest)*);
    };
    (
        $(#[$meta:meta])*
        pub enum $enum:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $name:literal $({
                    $( $(#[$fmeta:meta])* $field:ident : $fty:ty ),* $(,)?
                })?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum $enum {
            $(
                $(#[$vmeta])*
                #[serde(rename = $name)]
                $variant $({ $( $(#[$fmeta])* $field: $fty ),* })?,
            )*
        }

        impl $enum {
            /// Every type name, as it appears in `"type"`, in declaration order.
            pub const TYPES: &'static [&'static str] = &[$($name),*];

            /// The `"type"` name of this value.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( $enum::$variant { .. } => $name, )*
                }
            }
        }
    };
}

/// Defines the error-code enum from one list of `Variant = "wire_name"` entries: the enum with
/// each variant's serde name, `ALL` (every code, in list order) and `as_str`.
macro_rules! error_codes {
    (
        $(#[$meta:meta])*
        pub enum $enum:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $name:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $enum {
            $(
                $(#[$vmeta])*
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl $enum {
            /// Every code, in declaration order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),*];

            /// The snake_case name used on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $enum::$variant => $name, )*
                }
            }
        }
    };
}

pub(crate) use {error_codes, wire_enum};

/// How the fast decoder takes one request field from the borrowed flat struct: a required
/// string or number must be present, an optional one may be absent.
pub(crate) trait FastField<T> {
    /// The field's value; `None` when a required field is missing.
    fn take(self) -> Option<T>;
}

impl FastField<String> for Option<std::borrow::Cow<'_, str>> {
    fn take(self) -> Option<String> {
        self.map(std::borrow::Cow::into_owned)
    }
}

impl FastField<Option<String>> for Option<std::borrow::Cow<'_, str>> {
    fn take(self) -> Option<Option<String>> {
        Some(self.map(std::borrow::Cow::into_owned))
    }
}

impl<T> FastField<T> for Option<T> {
    fn take(self) -> Option<T> {
        self
    }
}
