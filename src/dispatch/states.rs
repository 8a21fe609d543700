//! Application state handed to a router: one value per type, shared by
//! every dispatch.

use crate::dispatch::entry::Need;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// Application state, one value per type.
#[derive(Default, Clone)]
pub(crate) struct States {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl States {
    pub(crate) fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
    }

    pub(crate) fn value(&self, need: &Need) -> Option<Arc<dyn Any + Send + Sync>> {
        self.values.get(&need.id).cloned()
    }
}
