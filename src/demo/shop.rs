//! The shop's data: a fixed catalogue of 500 products and the carts of logged-in users.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{Value, json};

/// Products have ids `1..=PRODUCTS`.
pub(crate) const PRODUCTS: u32 = 500;

const ADJECTIVES: [&str; 20] = [
    "Sturdy", "Compact", "Classic", "Smart", "Vintage", "Rugged", "Sleek", "Cozy", "Bright",
    "Quiet", "Swift", "Handmade", "Organic", "Portable", "Deluxe", "Minimal", "Bold", "Gentle",
    "Modern", "Rustic",
];

const NOUNS: [&str; 25] = [
    "Lamp",
    "Chair",
    "Kettle",
    "Backpack",
    "Notebook",
    "Headphones",
    "Mug",
    "Blanket",
    "Clock",
    "Umbrella",
    "Desk",
    "Speaker",
    "Bottle",
    "Jacket",
    "Wallet",
    "Candle",
    "Pillow",
    "Camera",
    "Teapot",
    "Scarf",
    "Keyboard",
    "Planter",
    "Sneakers",
    "Watch",
    "Toaster",
];

/// A catalogue entry as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Product {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) price: f64,
}

/// The product with this id, if it is in the catalogue.
pub(crate) fn product(id: u32) -> Option<Product> {
    if !(1..=PRODUCTS).contains(&id) {
        return None;
    }
    let i = (id - 1) as usize;
    let name = format!(
        "{} {}",
        ADJECTIVES[i % ADJECTIVES.len()],
        NOUNS[i / ADJECTIVES.len()]
    );
    Some(Product {
        id,
        name,
        price: price_cents(id) as f64 / 100.0,
    })
}

/// A deterministic price between $0.99 and $199.98.
fn price_cents(id: u32) -> u64 {
    u64::from(id) * 7919 % 19_900 + 99
}

/// One page of the catalogue (pages count from 1; past the end it is empty).
pub(crate) fn page(page: u32, per_page: u32) -> Vec<Product> {
    let first = u64::from(page.saturating_sub(1)) * u64::from(per_page) + 1;
    let last = (first + u64::from(per_page)).min(u64::from(PRODUCTS) + 1);
    (first..last).filter_map(|id| product(id as u32)).collect()
}

/// Products whose name contains `query`, ignoring case: the first `limit`, and how many match.
pub(crate) fn search(query: &str, limit: usize) -> (Vec<Product>, usize) {
    let query = query.trim().to_lowercase();
    let mut matches = (1..=PRODUCTS)
        .filter_map(product)
        .filter(|p| p.name.to_lowercase().contains(&query));
    let items: Vec<Product> = matches.by_ref().take(limit).collect();
    let total = items.len() + matches.count();
    (items, total)
}

/// Login tokens and their carts (product id -> quantity), oldest session forgotten first.
pub(crate) struct Sessions {
    inner: Mutex<SessionsInner>,
    max: usize,
}

#[derive(Default)]
struct SessionsInner {
    carts: HashMap<String, BTreeMap<u32, u32>>,
    order: VecDeque<String>,
    /// Logins by username (at most `max` names; later new names are not counted).
    logins: HashMap<String, u64>,
}

/// Most of one product a cart holds.
pub(crate) const MAX_QTY: u32 = 99;

impl Sessions {
    pub(crate) fn new(max: usize) -> Sessions {
        Sessions {
            inner: Mutex::default(),
            max: max.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SessionsInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a session with an empty cart for `username` and returns its token.
    pub(crate) fn login(&self, username: &str) -> String {
        let token = uuid::Uuid::new_v4().to_string();
        let mut inner = self.lock();
        if let Some(n) = inner.logins.get_mut(username) {
            *n += 1;
        } else if inner.logins.len() < self.max {
            inner.logins.insert(username.to_owned(), 1);
        }
        while inner.order.len() >= self.max {
            if let Some(old) = inner.order.pop_front() {
                inner.carts.remove(&old);
            }
        }
        inner.carts.insert(token.clone(), BTreeMap::new());
        inner.order.push_back(token.clone());
        token
    }

    /// How many times each username logged in (the first `max` names seen).
    pub(crate) fn logins(&self) -> BTreeMap<String, u64> {
        self.lock()
            .logins
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The cart of `token` as JSON, or `None` for a token this server did not issue.
    pub(crate) fn cart(&self, token: &str) -> Option<Value> {
        self.lock().carts.get(token).map(cart_json)
    }

    /// Adds `qty` of a product (capped at [`MAX_QTY`]) and returns the cart as JSON.
    pub(crate) fn add(&self, token: &str, product_id: u32, qty: u32) -> Option<Value> {
        let mut inner = self.lock();
        let cart = inner.carts.get_mut(token)?;
        let line = cart.entry(product_id).or_insert(0);
        *line = line.saturating_add(qty).min(MAX_QTY);
        Some(cart_json(cart))
    }
}

fn cart_json(cart: &BTreeMap<u32, u32>) -> Value {
    let mut count = 0;
    let mut total_cents = 0;
    let items: Vec<Value> = cart
        .iter()
        .filter_map(|(&id, &qty)| {
            let p = product(id)?;
            count += u64::from(qty);
            total_cents += price_cents(id) * u64::from(qty);
            Some(json!({ "product_id": id, "name": p.name, "price": p.price, "qty": qty }))
        })
        .collect();
    json!({ "items": items, "count": count, "total": total_cents as f64 / 100.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_product_has_a_unique_name() {
        let names: std::collections::HashSet<String> =
            (1..=PRODUCTS).map(|id| product(id).unwrap().name).collect();
        assert_eq!(names.len(), PRODUCTS as usize);
        assert!(product(0).is_none() && product(PRODUCTS + 1).is_none());
    }

    #[test]
    fn pages_cover_the_catalogue_once() {
        assert_eq!(page(1, 20).first().map(|p| p.id), Some(1));
        assert_eq!(page(25, 20).last().map(|p| p.id), Some(500));
        assert!(page(26, 20).is_empty());
        assert!(page(u32::MAX, 100).is_empty());
        assert_eq!(
            page(3, 7).iter().map(|p| p.id).collect::<Vec<_>>(),
            (15..=21).collect::<Vec<_>>()
        );
    }

    #[test]
    fn search_counts_every_match() {
        let (items, total) = search("LAMP", 5);
        assert_eq!((items.len(), total), (5, 20));
        assert_eq!(search("", 20).1, 500);
        assert_eq!(search("zzz", 20), (vec![], 0));
    }

    #[test]
    fn sessions_forget_the_oldest_token() {
        let sessions = Sessions::new(2);
        let first = sessions.login("ada");
        let second = sessions.login("bob");
        assert!(sessions.add(&second, 7, 150).is_some());
        assert_eq!(sessions.cart(&second).unwrap()["count"], MAX_QTY);
        sessions.login("ada");
        assert!(sessions.cart(&first).is_none());
        assert!(sessions.cart(&second).is_some());
        assert!(sessions.cart("nope").is_none());
    }

    #[test]
    fn sessions_count_logins_by_username() {
        let sessions = Sessions::new(2);
        sessions.login("ada");
        sessions.login("bob");
        sessions.login("ada");
        assert_eq!(sessions.logins().get("ada"), Some(&2));
        sessions.login("cy");
        let logins = sessions.logins();
        assert_eq!(logins.len(), 2, "at most `max` names are counted");
        assert_eq!(logins.get("bob"), Some(&1));
    }
}
