//! The stream's picture: a scene model (background, four quadrants, an overlay; data an
//! operator can edit), widgets, a picture cache and a 2D compositor on tiny-skia that redraws
//! only what changed.
//!
//! Takes a plain [`ViewModel`] (display strings and instants), never auction types; gives back
//! opaque premultiplied RGBA frames.

mod assets;
pub mod blend;
mod compositor;
pub mod image;
mod model;
mod text;
mod view;
mod widgets;

pub use assets::{
    AssetSource, DirAssets, MAX_ASSET_BYTES, NoAssets, REFRESH as ASSET_REFRESH,
    check_name as check_asset_name,
};
pub use blend::{Bounds, Rgba};
pub use compositor::{Compositor, Redraw, SceneKind, TRANSITION_MS};
pub use model::{
    Align, CANVAS_HEIGHT, CANVAS_WIDTH, Colour, CountdownTo, DEFAULT_SCENES, Element, Quadrant,
    Quadrants, Role, Scene, SceneError, SceneSet, Scenes, Theme, Widget, check_template,
};
pub use view::{Artwork, FIELDS, Mood, Phase, TickerLine, ViewModel};
pub use widgets::clock_text;
