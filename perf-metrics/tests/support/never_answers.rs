//! A service whose answer never comes: its requests end only when their future is dropped, as
//! when a client goes away.

use std::convert::Infallible;

use http::{Request, Response};
use tower::{Service, service_fn};

pub(crate) fn never_answers()
-> impl Service<Request<()>, Response = Response<()>, Error = Infallible, Future: Send> + Clone {
    service_fn(|_req: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(()))
    })
}
