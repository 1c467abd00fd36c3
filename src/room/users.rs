//! Users connected to this process, and their connections (phone, laptop,
//! tabs). An entry lives while the user has a connection here; what a user
//! keeps while offline (the inbox) is the engine's.

use super::{ConnKey, UserId};
use slab::Slab;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::rc::Rc;

/// One connected user. Kept small: one device inline.
#[derive(Debug)]
pub struct User {
    name: Rc<str>,
    conns: SmallVec<[ConnKey; 1]>,
}

impl User {
    /// The user id.
    pub fn name(&self) -> &Rc<str> {
        &self.name
    }

    /// The id as a JSON string literal (escaped on use: ids are short, and
    /// a copy in every user would cost more than the escaping).
    pub fn name_json(&self) -> Box<str> {
        super::protocol::quote(&self.name)
    }

    /// Open connections here.
    pub fn conns(&self) -> &[ConnKey] {
        &self.conns
    }
}

/// The user already holds `max_connections_per_user` connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyConnections;

/// Every connected user. See the module docs.
#[derive(Debug, Default)]
pub struct Users {
    slab: Slab<User>,
    index: HashMap<Rc<str>, UserId>,
}

impl Users {
    /// The user called `name`, if connected here.
    pub fn find(&self, name: &str) -> Option<UserId> {
        self.index.get(name).copied()
    }

    /// The user `id`.
    pub fn get(&self, id: UserId) -> Option<&User> {
        self.slab.get(id.0)
    }

    /// The connections of the user called `name` (none if not connected).
    pub fn conns_of(&self, name: &str) -> &[ConnKey] {
        self.find(name)
            .and_then(|id| self.get(id))
            .map_or(&[], |u| u.conns())
    }

    /// Users with at least one connection here.
    pub fn online(&self) -> usize {
        self.slab.len()
    }

    /// Every user with its id.
    pub fn iter(&self) -> impl Iterator<Item = (UserId, &User)> {
        self.slab.iter().map(|(i, u)| (UserId(i), u))
    }

    /// Add connection `key` to the user called `name`, unless it already
    /// has `max` connections. Returns the user and whether this is its first.
    pub fn connect(
        &mut self,
        name: &str,
        key: ConnKey,
        max: usize,
    ) -> Result<(UserId, bool), TooManyConnections> {
        let id = match self.find(name) {
            Some(id) => id,
            None => {
                if max == 0 {
                    return Err(TooManyConnections);
                }
                let name: Rc<str> = Rc::from(name);
                let id = UserId(self.slab.insert(User {
                    name: name.clone(),
                    conns: SmallVec::new(),
                }));
                self.index.insert(name, id);
                id
            }
        };
        let user = self.slab.get_mut(id.0).ok_or(TooManyConnections)?;
        if user.conns.len() >= max {
            return Err(TooManyConnections);
        }
        user.conns.push(key);
        Ok((id, user.conns.len() == 1))
    }

    /// Remove connection `key` of user `id`; true if it was the last (the
    /// entry is then gone).
    pub fn disconnect(&mut self, id: UserId, key: ConnKey) -> bool {
        let Some(user) = self.slab.get_mut(id.0) else {
            return false;
        };
        user.conns.retain(|k| *k != key);
        if !user.conns.is_empty() {
            return false;
        }
        let user = self.slab.remove(id.0);
        self.index.remove(&user.name);
        true
    }

    /// Check the user side of the indexes (tests and fuzzing).
    pub fn check(&self) -> Result<(), String> {
        for (i, user) in &self.slab {
            if self.index.get(&user.name) != Some(&UserId(i)) {
                return Err(format!("user {} not indexed", user.name));
            }
            if user.conns.is_empty() {
                return Err(format!("user {} kept without connections", user.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_and_the_last_one_removes_the_user() {
        let mut users = Users::default();
        let (id, first) = users.connect("ann", ConnKey(1), 2).unwrap();
        assert!(first);
        assert_eq!(users.connect("ann", ConnKey(2), 2), Ok((id, false)));
        assert_eq!(users.connect("ann", ConnKey(3), 2), Err(TooManyConnections));
        assert_eq!(users.conns_of("ann"), &[ConnKey(1), ConnKey(2)]);
        assert_eq!(&*users.get(id).unwrap().name_json(), "\"ann\"");
        assert!(!users.disconnect(id, ConnKey(1)));
        assert!(users.disconnect(id, ConnKey(2)));
        assert_eq!((users.online(), users.find("ann")), (0, None));
        users.check().unwrap();
    }

    #[test]
    fn stays_small() {
        assert!(
            std::mem::size_of::<User>() <= 40,
            "{}",
            std::mem::size_of::<User>()
        );
    }
}
