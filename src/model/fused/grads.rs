//! The weight-gradient side channel of the fused nodes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::*;

/// Gradients of weights that the fused linear and layer-norm nodes hand over directly instead of
/// returning them to candle's backward pass, which would first add each to a fresh zero tensor
/// (two more kernels a weight, a fifth of a training step's backward pass). Off unless a training
/// loop turns it on; it then merges them into the `GradStore` after each `backward()` with
/// [`WeightGrads::merge_into`]. Clones share one store.
#[derive(Debug, Clone, Default)]
pub struct WeightGrads(Arc<WeightGradsInner>);

#[derive(Debug, Default)]
struct WeightGradsInner {
    on: AtomicBool,
    grads: Mutex<Vec<(Tensor, Tensor)>>,
}

impl WeightGrads {
    /// Starts (or stops) collecting; either way forgets what was collected.
    pub fn set_collecting(&self, on: bool) -> Result<()> {
        self.0.on.store(on, Ordering::SeqCst);
        self.lock()?.clear();
        Ok(())
    }

    /// Whether the fused nodes hand their weights' gradients here.
    pub fn is_collecting(&self) -> bool {
        self.0.on.load(Ordering::SeqCst)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Vec<(Tensor, Tensor)>>> {
        self.0
            .grads
            .lock()
            .map_err(|_| candle_core::Error::Msg("weight gradients lock poisoned".into()))
    }

    /// Adds `grad` to the gradient of `weight` (a weight used twice gets the sum).
    fn deposit(&self, weight: &Tensor, grad: Tensor) -> Result<()> {
        let mut grads = self.lock()?;
        match grads.iter_mut().find(|(w, _)| w.id() == weight.id()) {
            Some((_, g)) => *g = (&*g + grad)?,
            None => grads.push((weight.clone(), grad)),
        }
        Ok(())
    }

    /// Adds `dw` and `db` to the gradients of a node's weight and bias.
    pub(crate) fn deposit_pair(
        &self,
        (w, b): (&Tensor, &Tensor),
        dw: Tensor,
        db: Tensor,
    ) -> Result<()> {
        self.deposit(w, dw)?;
        self.deposit(b, db)
    }

    /// Moves every collected gradient into `store` (adding to one already there).
    pub fn merge_into(&self, store: &mut candle_core::backprop::GradStore) -> Result<()> {
        for (weight, grad) in self.lock()?.drain(..) {
            let grad = match store.get(&weight) {
                Some(existing) => (existing + grad)?,
                None => grad,
            };
            store.insert(&weight, grad);
        }
        Ok(())
    }

    /// The collector to hand a node's weight and bias gradients to: when collecting, and both
    /// are trained, contiguous tensors. Gradients are keyed by the tensors' ids, so the node must
    /// see the `Var`s themselves (which are contiguous), not copies.
    pub(crate) fn for_params(this: Option<&Self>, weight: &Tensor, bias: &Tensor) -> Option<Self> {
        let own = |t: &Tensor| t.is_variable() && t.is_contiguous();
        this.filter(|g| g.is_collecting() && own(weight) && own(bias)).cloned()
    }
}

/// A weighted node's gradients `(dx, dw, db)` for candle's backward pass: the weight's and the
/// bias's handed to `sink` when there is one (it collects), all three returned otherwise.
#[allow(clippy::type_complexity)]
pub(super) fn node_grads(
    sink: Option<&WeightGrads>,
    (w, b): (&Tensor, &Tensor),
    (dx, dw, db): (Tensor, Tensor, Tensor),
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    match sink {
        Some(sink) => {
            sink.deposit_pair((w, b), dw, db)?;
            Ok((Some(dx), None, None))
        }
        None => Ok((Some(dx), Some(dw), Some(db))),
    }
}
